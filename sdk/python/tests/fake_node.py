"""A stand-in for a node in unit tests: a real TCP listener speaking the frame protocol, whose
answers come from a function of the request. Requests are answered on their own threads, in the
order they finish, as a node pipelines them."""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any, Callable

import msgpack

from raftq.frame import FrameDecoder


class WireError(Exception):
    """Raised by a responder to answer ``{ok: false, error}``."""

    def __init__(self, code: str, message: str = "", *, retryable: bool = False, leader: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.wire: dict[str, Any] = {"code": code, "message": message or code, "retryable": retryable}
        if leader is not None:
            self.wire["leader"] = leader
        if field is not None:
            self.wire["field"] = field


class Drop(Exception):
    """Raised by a responder to close the connection instead of answering."""


def drop_everything(request: dict[str, Any]) -> Any:
    """A node this client cannot use: every connection is cut at its first request."""
    raise Drop()


Responder = Callable[[dict[str, Any]], Any]


def hello_only(leader: str | None = None, nodes: list[dict[str, str]] | None = None) -> Responder:
    def respond(request: dict[str, Any]) -> Any:
        if request["op"] == "hello":
            return {"nodeId": "n1", "leader": leader, "nodes": nodes or []}
        raise WireError("BAD_REQUEST", f"unexpected op {request['op']}")

    return respond


class FakeNode:
    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.requests: list[dict[str, Any]] = []
        self.connections_accepted = 0
        # Named as the leader in every successful answer, as a follower that forwards does.
        self.leader_hint: str | None = None
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def ops(self) -> list[str]:
        with self._lock:
            return [request["op"] for request in self.requests]

    def of_op(self, op: str) -> list[dict[str, Any]]:
        with self._lock:
            return [request for request in self.requests if request["op"] == op]

    def drop_connections(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)

    def close(self) -> None:
        self._closed = True
        _shut(self._listener)
        self.drop_connections()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(sock)
                self.connections_accepted += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        decoder = FrameDecoder()
        write_lock = threading.Lock()
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            for request in decoder.feed(chunk):
                with self._lock:
                    self.requests.append(request)
                threading.Thread(target=self._answer, args=(sock, write_lock, request), daemon=True).start()

    def _answer(self, sock: socket.socket, write_lock: threading.Lock, request: dict[str, Any]) -> None:
        try:
            body = {"id": request["id"], "ok": True, "result": self.respond(request)}
            if self.leader_hint is not None:
                body["leader"] = self.leader_hint
        except WireError as error:
            body = {"id": request["id"], "ok": False, "error": error.wire}
        except Drop:
            _shut(sock)
            return
        encoded = msgpack.packb(body, use_bin_type=True)
        try:
            with write_lock:
                sock.sendall(struct.pack(">I", len(encoded)) + encoded)
        except OSError:
            pass  # the client left


def dead_address() -> str:
    """An address nothing listens on: bind a port, then free it."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return f"127.0.0.1:{sock.getsockname()[1]}"


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
