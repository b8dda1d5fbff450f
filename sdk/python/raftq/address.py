"""Node addresses are "host:port" strings everywhere (RAFTQ_NODES, hello, leader hints)."""

from __future__ import annotations

import re

ADDRESS_LENGTH_MAX = 256
_HOST = re.compile(r"[A-Za-z0-9._-]+")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+")
_PORT = re.compile(r"[0-9]{1,5}")


def parse_host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of "host:port" or "[ipv6]:port"; None when it is not one (port 0 included)."""
    if not isinstance(address, str) or not 0 < len(address) <= ADDRESS_LENGTH_MAX:
        return None
    host, colon, port_text = address.rpartition(":")
    if colon == "" or host == "" or _PORT.fullmatch(port_text) is None:
        return None
    port = int(port_text)
    if not 1 <= port <= 65535:
        return None
    if host.startswith("[") and host.endswith("]"):
        inner = host[1:-1]
        return (inner, port) if _IPV6.fullmatch(inner) is not None and ":" in inner else None
    return (host, port) if _HOST.fullmatch(host) is not None else None
