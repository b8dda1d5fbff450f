"""The cluster as one endpoint: a list of node addresses, one pipelined connection to the node in
use, retries with exponential backoff and jitter, failover, and the client session that makes a
retried mutating request apply once. A Client and each Worker own one.

This follows the TypeScript SDK (src/client/transport.ts) step by step, so both behave alike:
hello on every new connection, leader hints followed when the leader is in the node list, the
same retryable codes, the same backoff, the same seq reused across retries.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .address import parse_host_port
from .connection import Connection
from .errors import BadRequestError, InternalError, RaftqError, closed_error, raftq_error
from .limits import SESSION_RESULTS_MAX, is_id
from .session import SessionWindow

# Long enough to ride out a leader election, short enough to fail over from a dead node.
REQUEST_TIMEOUT_MS_DEFAULT = 10_000
DEFAULT_NODES: tuple[str, ...] = ("127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003")
# A leader hint naming a node that failed a request this recently is not followed.
HINT_IGNORED_AFTER_FAILURE_MS = 5_000

MUTATING_OPS: frozenset[str] = frozenset(
    {
        "enqueue", "lease", "heartbeat", "ack", "ackMany", "release", "fail", "cancel", "pause", "resume", "dlqRetry", "dlqPurge",
        "scheduleSet", "scheduleRemove",
    }
)


@dataclass(frozen=True)
class RetryOptions:
    """How a request that failed with a retryable error is tried again."""

    # Tries in all, the first included.
    attempts: int = 10
    # Backoff before the second try; doubles each time, up to cap_ms.
    base_ms: float = 50
    cap_ms: float = 2_000

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or isinstance(self.attempts, bool) or self.attempts < 1:
            raise BadRequestError("retry.attempts must be a positive integer", field="retry.attempts")
        for name in ("base_ms", "cap_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise BadRequestError(f"retry.{name} must be a positive number", field=f"retry.{name}")


def aborted_error() -> InternalError:
    return InternalError("request abandoned: its caller stopped waiting", retryable=False)


def resolve_nodes(nodes: Sequence[str] | str | None) -> tuple[str, ...]:
    """The node list: as given (a list or "a:1,b:2"), else RAFTQ_NODES, else the local three."""
    if nodes is None:
        nodes = os.environ.get("RAFTQ_NODES") or ",".join(DEFAULT_NODES)
    if isinstance(nodes, str):
        nodes = [node.strip() for node in nodes.split(",") if node.strip()]
    listed = tuple(nodes)
    if not listed:
        raise BadRequestError("nodes must list at least one host:port", field="nodes")
    for node in listed:
        if parse_host_port(node) is None:
            raise BadRequestError(f'node address "{node}" is not host:port', field="nodes")
    return listed


class Transport:
    def __init__(
        self,
        nodes: Sequence[str] | str | None = None,
        *,
        client_id: str | None = None,
        request_timeout_ms: float = REQUEST_TIMEOUT_MS_DEFAULT,
        retry: RetryOptions | None = None,
    ) -> None:
        self.nodes = resolve_nodes(nodes)
        # A fresh id per instance: a restarted process must never reuse a session (its seqs restart at 1).
        self.client_id = client_id if client_id is not None else str(uuid.uuid4())
        if not isinstance(self.client_id, str) or not is_id(self.client_id):
            raise BadRequestError("client_id must be 1..128 characters of [A-Za-z0-9._:-]", field="clientId")
        if isinstance(request_timeout_ms, bool) or not isinstance(request_timeout_ms, (int, float)) or not request_timeout_ms > 0:
            raise BadRequestError("request_timeout_ms must be a positive number", field="requestTimeoutMs")
        self.request_timeout_ms = request_timeout_ms
        self.retry = retry if retry is not None else RetryOptions()
        self._lock = threading.Lock()
        # The first listed node first: predictable, and hello moves us on to the leader when it is listed.
        self._current = 0
        self._connections: dict[int, Connection] = {}
        # One opener per node: concurrent callers wait for the same connection instead of racing.
        self._open_locks = [threading.Lock() for _ in self.nodes]
        # Node id -> client address, learned from hello, to follow leader hints given as ids.
        self._address_by_id: dict[str, str] = {}
        # When a request last failed at each node (by index into nodes, monotonic seconds), for
        # _follow_leader_hint.
        self._failed_at_s: dict[int, float] = {}
        self._window = SessionWindow(SESSION_RESULTS_MAX)
        self._closing = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closing.is_set()

    def call(self, op: str, fields: Mapping[str, Any], long_poll_ms: float = 0, abort: threading.Event | None = None) -> Any:
        """One request, retried (same seq) on retryable errors, failing over between nodes.

        ``long_poll_ms`` is added to the request timeout: the node may hold a long poll that long.
        Once ``abort`` is set the request is not sent (again): a worker's long poll ends so.
        """
        timeout_ms = self.request_timeout_ms + long_poll_ms
        # None means absent, as on the wire (the node treats nil alike); leaving it out keeps frames small.
        body = {"op": op, **{key: value for key, value in fields.items() if value is not None}}
        if op not in MUTATING_OPS:
            return self._with_retries(body, timeout_ms, abort)
        seq = self._window.acquire()
        try:
            return self._with_retries({**body, "clientId": self.client_id, "seq": seq, "seqFloor": self._window.floor}, timeout_ms, abort)
        finally:
            self._window.release(seq)

    def close(self) -> None:
        """Ends every connection; calls in progress raise, later calls raise at once. Idempotent."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._window.close()
        with self._lock:
            connections = list(self._connections.values())
            self._connections.clear()
        for connection in connections:
            connection.close()

    def drop_connections(self) -> None:
        """Closes every connection but not the transport: requests awaiting answers are retried on
        new ones, except those whose ``abort`` is set. A node drops a long poll whose connection closed."""
        with self._lock:
            connections = list(self._connections.values())
        for connection in connections:
            connection.close()

    def _with_retries(self, body: dict[str, Any], timeout_ms: float, abort: threading.Event | None) -> Any:
        attempt = 1
        started_s = time.monotonic()
        # The last failure at each node tried, in the order they last failed: for the error of a
        # call that gives up.
        last_failure: dict[int, RaftqError] = {}
        unanswered_before = False
        while True:
            if self.closed:
                raise closed_error()
            with self._lock:
                index = self._current
            try:
                connection = self._connection_to(index)
                if abort is not None and abort.is_set():
                    raise aborted_error()
                try:
                    return connection.request(body, timeout_ms)
                finally:
                    self._retire_if_idle(connection, index)
            except RaftqError as failure:
                if self.closed:
                    raise closed_error() from None
                if not failure.retryable:
                    if unanswered_before:
                        failure.outcome_unknown = True
                    raise
                # TIMEOUT: no answer, or the connection was lost: that try may have applied.
                if failure.code == "TIMEOUT":
                    unanswered_before = True
                last_failure.pop(index, None)
                last_failure[index] = failure
                if attempt >= self.retry.attempts:
                    if attempt == 1:
                        raise
                    raise self._gave_up(failure, last_failure, attempt, time.monotonic() - started_s) from failure
                self._steer(failure, index)
                self._backoff(attempt, abort)
            attempt += 1

    def _gave_up(self, last: RaftqError, last_failure: Mapping[int, RaftqError], tries: int, elapsed_s: float) -> RaftqError:
        """The error of a call whose tries all failed: the last failure's code, and what each node
        tried last answered, since the last failure alone may name a node that is merely down while
        the cause is elsewhere (no quorum among the others)."""
        per_node = "; ".join(_describe_failure(self.nodes[index], failure) for index, failure in last_failure.items())
        message = f"gave up after {tries} tries over {elapsed_s:.1f} s; last failure at each node: {per_node}"
        error = raftq_error(last.code, message, retryable=last.retryable, field=last.field, leader=last.leader)
        error.outcome_unknown = last.outcome_unknown
        return error

    def _steer(self, failure: RaftqError, failed_index: int) -> None:
        """Chooses the node for the next try after ``failure`` on node ``failed_index``."""
        with self._lock:
            self._failed_at_s[failed_index] = time.monotonic()
            hinted = self._index_of_hint(failure.leader)
            if hinted >= 0:
                self._current = hinted
                return
            # Overload is about our own load: moving it to another node only spreads the problem.
            if failure.code in ("OVERLOADED", "RATE_LIMITED"):
                return
            # Many pipelined requests fail together; only the first may move us on, or we would skip nodes.
            if self._current == failed_index:
                self._current = (failed_index + 1) % len(self.nodes)

    def _index_of_hint(self, leader: str | None) -> int:
        """Index in our list of the leader named by address or node id; -1 when not listed. Under _lock."""
        if leader is None:
            return -1
        if leader in self.nodes:
            return self.nodes.index(leader)
        address = self._address_by_id.get(leader)
        return self.nodes.index(address) if address in self.nodes else -1

    def _backoff(self, attempt: int, abort: threading.Event | None) -> None:
        ceiling_ms = min(self.retry.cap_ms, self.retry.base_ms * 2 ** (attempt - 1))
        # "Equal jitter": at least half the ceiling, so retries back off, and spread over the rest.
        delay_ms = ceiling_ms / 2 + random.random() * (ceiling_ms / 2)
        # Whoever passes ``abort`` sets it before closing the transport, so it alone needs watching.
        if abort is not None:
            if abort.wait(delay_ms / 1000):
                raise aborted_error()
        elif self._closing.wait(delay_ms / 1000):
            raise closed_error()

    def _connection_to(self, index: int) -> Connection:
        with self._lock:
            existing = self._connections.get(index)
        if existing is not None and not existing.closed:
            return existing
        with self._open_locks[index]:
            with self._lock:
                existing = self._connections.get(index)
            if existing is not None and not existing.closed:
                return existing
            connection = self._open(index)
            with self._lock:
                if self.closed:
                    connection.close()
                    raise closed_error()
                self._connections[index] = connection
            connection.on_close = lambda: self._forget(index, connection)
            connection.on_leader_hint = lambda leader: self._follow_leader_hint(leader, index)
            if connection.closed:
                self._forget(index, connection)
            return connection

    def _forget(self, index: int, connection: Connection) -> None:
        with self._lock:
            if self._connections.get(index) is connection:
                del self._connections[index]

    def _open(self, index: int) -> Connection:
        connection = Connection.connect(self.nodes[index], self.request_timeout_ms)
        try:
            self._hello(connection, index)
        except BaseException:
            connection.close()
            raise
        return connection

    def _hello(self, connection: Connection, index: int) -> None:
        """Learns the cluster from the node; moves to the leader when the caller listed its address."""
        try:
            answer = connection.request({"op": "hello", "clientId": self.client_id}, self.request_timeout_ms)
        except RaftqError as error:
            if not error.retryable:
                return  # a node without hello still serves
            raise
        hello = answer if isinstance(answer, dict) else {}
        nodes = hello.get("nodes")
        with self._lock:
            for node in nodes if isinstance(nodes, list) else []:
                if isinstance(node, dict) and isinstance(node.get("id"), str) and isinstance(node.get("clientAddr"), str):
                    self._address_by_id[node["id"]] = node["clientAddr"]
            leader = hello.get("leader")
            leader_index = self._index_of_hint(leader) if isinstance(leader, str) else -1
            # Talking to the leader saves a forwarding hop; addresses not listed may be unreachable from here.
            if leader_index >= 0 and self._current == index:
                self._current = leader_index

    def _follow_leader_hint(self, leader: str, from_index: int) -> None:
        """A follower answered and named its leader: send later requests there (one hop less), when
        the caller listed it and it has not just failed us (a leader the follower reaches may be cut
        off from here; without the pause we would bounce between the two)."""
        with self._lock:
            if self._current != from_index:
                return
            hinted = self._index_of_hint(leader)
            if hinted < 0 or hinted == from_index:
                return
            failed_at_s = self._failed_at_s.get(hinted)
            if failed_at_s is not None and (time.monotonic() - failed_at_s) * 1000 < HINT_IGNORED_AFTER_FAILURE_MS:
                return
            self._current = hinted

    def _retire_if_idle(self, connection: Connection, index: int) -> None:
        """A connection to a node we moved away from is closed once its last answer is in."""
        with self._lock:
            current = self._current
        if index == current or connection.pending_count > 0 or connection.closed:
            return
        connection.close()  # its on_close drops it from _connections


def _describe_failure(address: str, failure: RaftqError) -> str:
    """``address: CODE what``, without the address twice (connection errors already start with it)."""
    what = failure.message[len(address) + 2 :] if failure.message.startswith(f"{address}: ") else failure.message
    return f"{address}: {failure.code} {what}"
