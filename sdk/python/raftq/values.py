"""Payloads and results: the msgpack bytes of a user's value, opaque to the broker.

The SDK encodes once at the edge (submit, ack) and decodes when a job comes back (lease, get,
wait_for_result, the dead-letter list), so a Python producer and a TypeScript worker (or the
other way round) share jobs.
"""

from __future__ import annotations

from typing import Any

import msgpack

from .errors import BadRequestError
from .frame import unpack

def encode_value(value: Any, field: str = "payload") -> bytes:
    """msgpack bytes of ``value``; BadRequestError naming ``field`` when msgpack cannot carry it."""
    try:
        encoded: bytes = msgpack.packb(value, use_bin_type=True)
        return encoded
    except (TypeError, ValueError, OverflowError) as error:
        raise BadRequestError(f"{field}: cannot be encoded as msgpack: {error}", field=field) from error


def decode_value(data: bytes, field: str = "payload") -> Any:
    """The one msgpack value in ``data``; BadRequestError when it is not exactly one."""
    try:
        return unpack(data)
    except Exception as error:  # msgpack raises several unrelated types for bad input
        raise BadRequestError(f"{field}: {len(data)} bytes that are not one msgpack value: {error}", field=field) from error


def value_or_raw_bytes(data: bytes | None, field: str) -> Any:
    """For reading: the decoded value, or the bytes as they are when they are not msgpack."""
    if data is None:
        return None
    try:
        return decode_value(data, field)
    except BadRequestError:
        return bytes(data)
