"""One pipelined connection to one node: request ids, the answers awaited, per-request timeouts.

A reader thread settles answers in whatever order they come, so many threads (a worker's long
poll, its heartbeats and acks) share one connection. Loss of the connection fails every request
awaiting an answer with a retryable error: the client cannot know whether the node applied it,
which is exactly the case (clientId, seq) sessions cover.
"""

from __future__ import annotations

import socket
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable

from .address import parse_host_port
from .errors import BadRequestError, RequestTimeoutError, connection_error, error_from_wire
from .frame import FrameDecoder, FrameError, encode_frame

_READ_BYTES = 256 * 1024


class Connection:
    def __init__(self, address: str, sock: socket.socket) -> None:
        self.address = address
        self._socket = sock
        self._decoder = FrameDecoder()
        self._lock = threading.Lock()
        # Writes of whole frames must not interleave; the reader needs no lock of its own.
        self._write_lock = threading.Lock()
        self._pending: dict[int, Future[Any]] = {}
        self._next_id = 1
        self._closed_reason: str | None = None
        # Called once, from whichever thread notices, when the connection is gone for any reason.
        self.on_close: Callable[[], None] | None = None
        # Called on the reader thread with the leader a follower names in a successful answer.
        self.on_leader_hint: Callable[[str], None] | None = None
        self._reader = threading.Thread(target=self._read_loop, name=f"raftq-read-{address}", daemon=True)
        self._reader.start()

    @classmethod
    def connect(cls, address: str, connect_timeout_ms: float) -> Connection:
        """Connects within connect_timeout_ms, or raises a retryable error."""
        target = parse_host_port(address)
        if target is None:
            raise BadRequestError(f'node address "{address}" is not host:port', field="nodes")
        host, port = target
        try:
            sock = socket.create_connection((host, port), timeout=connect_timeout_ms / 1000)
        except socket.timeout:
            raise connection_error(address, f"connect timed out after {connect_timeout_ms:g} ms") from None
        except OSError as error:
            raise connection_error(address, f"cannot connect ({error.strerror or error})") from None
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return cls(address, sock)

    @property
    def closed(self) -> bool:
        return self._closed_reason is not None

    @property
    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    def request(self, body: dict[str, Any], timeout_ms: float) -> Any:
        """Sends ``{id, **body}`` and returns its result, or raises a RaftqError."""
        request_id, answer = self._send(body)
        try:
            return answer.result(timeout=timeout_ms / 1000)
        except FutureTimeout:
            with self._lock:
                self._pending.pop(request_id, None)
            raise RequestTimeoutError(f"{self.address}: no answer within {timeout_ms:g} ms", retryable=True) from None

    def close(self) -> None:
        self._fail("connection closed by the client")

    def _send(self, body: dict[str, Any]) -> tuple[int, Future[Any]]:
        with self._lock:
            self._raise_if_closed()
            request_id = self._next_id
            self._next_id += 1
        # Nothing is registered for a frame that cannot be sent (too large, not encodable).
        frame = encode_frame({**body, "id": request_id})
        answer: Future[Any] = Future()
        with self._lock:
            self._raise_if_closed()
            # Registered before the write: the answer may arrive before sendall returns.
            self._pending[request_id] = answer
        try:
            with self._write_lock:
                self._socket.sendall(frame)
        except OSError as error:
            self._fail(f"connection lost ({error.strerror or error})")
        return request_id, answer

    def _raise_if_closed(self) -> None:
        # A fresh exception each time: re-raising one instance would grow its traceback forever.
        if self._closed_reason is not None:
            raise connection_error(self.address, self._closed_reason)

    def _read_loop(self) -> None:
        while True:
            try:
                chunk = self._socket.recv(_READ_BYTES)
            except OSError as error:
                self._fail(f"connection lost ({error.strerror or error})")
                return
            if not chunk:
                self._fail("connection lost before an answer")
                return
            try:
                bodies = self._decoder.feed(chunk)
            except FrameError as error:
                self._fail(f"protocol error: {error}")
                return
            for body in bodies:
                if not self._settle(body):
                    self._fail("protocol error: malformed response")
                    return

    def _settle(self, body: Any) -> bool:
        """Settles the request a response answers; False when the response is malformed."""
        if not isinstance(body, dict):
            return False
        request_id, ok = body.get("id"), body.get("ok")
        if isinstance(request_id, bool) or not isinstance(request_id, int) or not isinstance(ok, bool):
            return False
        leader = body.get("leader")
        # Before the answer is settled: the caller's next request should already go to the leader.
        if isinstance(leader, str) and self.on_leader_hint is not None:
            self.on_leader_hint(leader)
        with self._lock:
            answer = self._pending.pop(request_id, None)
        if answer is None:
            return True  # answered after its timeout: nobody waits for it
        if ok:
            answer.set_result(body.get("result"))
        else:
            answer.set_exception(error_from_wire(body.get("error")))
        return True

    def _fail(self, reason: str) -> None:
        with self._lock:
            if self._closed_reason is not None:
                return
            self._closed_reason = reason
            pending = list(self._pending.values())
            self._pending.clear()
        try:
            # shutdown, not just close: it wakes the reader thread blocked in recv.
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already reset by the peer
        self._socket.close()
        for answer in pending:
            answer.set_exception(connection_error(self.address, reason))
        if self.on_close is not None:
            self.on_close()
