"""The consumer-side SDK: lease jobs with long polls, run a handler per job on a pool of threads,
heartbeat leases while handlers run, ack results or fail with the error, and on close stop
leasing, let running handlers finish within a grace period, and hand back the rest.

Threads, not asyncio: handlers are ordinary blocking Python functions. One thread long-polls for
leases (for free handler threads, and while handlers outpace a lease round trip, a few jobs ahead),
``concurrency`` threads run handlers (each fails its own job, or hands its result to the ack
sender and takes the next job), one thread sends acks in groups (ackMany), and one sends
heartbeats; all share one pipelined connection (see Transport).
"""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Callable, Literal, Sequence

from .batches import split_batches
from .client import Client
from .errors import BadRequestError, InternalError, PayloadTooLargeError, RaftqError, StaleLeaseError, error_from_wire
from .group_commit import GroupCommit
from .jobs import FailOutcome, ms, ms_or_none
from .limits import (
    ACK_BATCH_MAX,
    ACK_BYTES_BEYOND_RESULT_MAX,
    ACK_REQUEST_BYTES_MAX,
    ERROR_MESSAGE_LENGTH_MAX,
    LEASE_BATCH_MAX,
    LEASE_MS_DEFAULT,
    LEASE_MS_MAX,
    LEASE_MS_MIN,
    LEASE_WAIT_MS_MAX,
    RESULT_BYTES_MAX,
    is_id,
)
from .transport import REQUEST_TIMEOUT_MS_DEFAULT, RetryOptions, Transport
from .values import decode_value, encode_value

logger = logging.getLogger("raftq")

WORKER_POLL_WAIT_MS_DEFAULT = 5_000
# Leaves 5 s of Kubernetes' default 30 s termination grace for handing jobs back.
WORKER_SHUTDOWN_GRACE_MS_DEFAULT = 25_000
# Pause after a lease answered empty without long-polling (poll_wait_ms 0, or an early answer): do not spin.
EARLY_EMPTY_POLL_PAUSE_MS = 200
# Heartbeats sent at once; more due at the same moment queue behind these.
HEARTBEATS_IN_FLIGHT_MAX = 8
# Jobs settling (their ack under way) per handler thread. A thread takes its next job as soon as
# its handler returns, while the ack commits; this bounds how far acks may trail.
SETTLING_PER_SLOT_MAX = 4
# Default prefetch per handler thread, as in the TypeScript worker: with handlers far faster than a
# lease round trip, four slots' worth ahead cut a node's CPU per job by ~20% (fewer, larger entries).
PREFETCH_PER_SLOT_DEFAULT = 4
# Lease requests a worker keeps in flight at most, as in the TypeScript worker: while the queues are
# drained (the last answer was short) the extra ones wait on the node, so a job submitted while one
# answer travels back rides in the same Raft entry as its lease instead of a lease entry of its own.
LEASE_LANES = 4


class PermanentError(Exception):
    """Raise it from a handler to fail the job without further attempts (it goes to the DLQ).

    Any exception with an attribute ``retryable = False`` does the same; every other exception
    fails the attempt, and the job is retried with backoff until it runs out of attempts.
    """

    retryable = False


class WorkerJob:
    """What a handler receives: the leased job, a manual heartbeat, and an ``aborted`` event."""

    def __init__(self, wire: dict[str, Any], payload: Any, heartbeat: Callable[[], None]) -> None:
        self.id: str = wire["id"]
        self.queue: str = wire["queue"]
        self.name: str = wire["name"]
        self.payload = payload
        self.priority = ms(wire["priority"])
        # 1 for the first run; the job's max_attempts bounds it.
        self.attempt = ms(wire["attempt"])
        self.max_attempts = ms(wire["maxAttempts"])
        # The lease's fencing token: only it can ack, fail or extend this run.
        self.token: str = wire["token"]
        self.lease_expires_at_ms = ms(wire["leaseExpiresAtMs"])
        # Set when the lease is lost, or the worker shut down before the handler returned: stop early.
        self.aborted = threading.Event()
        self._heartbeat = heartbeat

    def heartbeat(self) -> None:
        """Extends the lease now (automatic heartbeats go every lease_ms / 3 anyway).

        Raises StaleLeaseError (and sets ``aborted``) when the lease is lost."""
        self._heartbeat()

    def __repr__(self) -> str:
        return f"WorkerJob(id={self.id!r}, queue={self.queue!r}, attempt={self.attempt})"


Handler = Callable[[WorkerJob], Any]
# queued: leased, waiting for a handler thread; settling: its ack, fail or hand-back is under way.
_Phase = Literal["queued", "running", "settling", "done"]


@dataclass(eq=False)
class _Active:
    job: WorkerJob
    # The payload is not msgpack, so no attempt can succeed: the job fails, not retryable.
    payload_error: RaftqError | None
    phase: _Phase = "queued"
    # When the lease was granted or last extended (monotonic clock): heartbeats go from it.
    renewed_at: float = field(default_factory=time.monotonic)
    heartbeat_in_flight: bool = False


@dataclass(frozen=True)
class _PendingAck:
    active: _Active
    # What the handler returned (for on_completed), and its msgpack bytes (None: no result).
    result: Any
    encoded: bytes | None


class Worker:
    """``Worker(client_or_nodes, queue, handler, concurrency=N)``; ``run()`` or ``start()``/``close()``.

    ``queue`` is one queue name or a list of them. ``handler(job)`` returns the result (any value
    msgpack encodes; None acks without one) or raises to fail the attempt.
    """

    def __init__(
        self,
        client_or_nodes: Client | Sequence[str] | str | None,
        queue: str | Sequence[str],
        handler: Handler,
        *,
        concurrency: int = 1,
        lease_ms: int = LEASE_MS_DEFAULT,
        poll_wait_ms: int = WORKER_POLL_WAIT_MS_DEFAULT,
        shutdown_grace_ms: int = WORKER_SHUTDOWN_GRACE_MS_DEFAULT,
        prefetch: int | None = None,
        worker_id: str | None = None,
        request_timeout_ms: float | None = None,
        retry: RetryOptions | None = None,
        on_completed: Callable[[WorkerJob, Any], None] | None = None,
        on_failed: Callable[[WorkerJob, BaseException, FailOutcome], None] | None = None,
        on_lease_lost: Callable[[WorkerJob, RaftqError], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._queues = [queue] if isinstance(queue, str) else list(queue)
        if not self._queues:
            raise BadRequestError("queue must name at least one queue", field="queues")
        self._handler = handler
        self._concurrency = _bounded(concurrency, 1, LEASE_BATCH_MAX, "concurrency")
        self._lease_ms = _bounded(lease_ms, LEASE_MS_MIN, LEASE_MS_MAX, "lease_ms")
        self._poll_wait_ms = _bounded(poll_wait_ms, 0, LEASE_WAIT_MS_MAX, "poll_wait_ms")
        self._shutdown_grace_ms = _bounded(shutdown_grace_ms, 0, 2**53, "shutdown_grace_ms")
        default_prefetch = min(PREFETCH_PER_SLOT_DEFAULT * self._concurrency, LEASE_BATCH_MAX)
        self._prefetch_max = _bounded(default_prefetch if prefetch is None else prefetch, 0, LEASE_BATCH_MAX, "prefetch")
        self.worker_id = worker_id if worker_id is not None else _default_worker_id()
        # A worker's own session: its seqs must not interleave with a client's under one id.
        if isinstance(client_or_nodes, Client):
            self._transport = Transport(
                client_or_nodes.nodes,
                request_timeout_ms=request_timeout_ms or client_or_nodes.request_timeout_ms,
                retry=retry or client_or_nodes.retry,
            )
        else:
            self._transport = Transport(
                client_or_nodes, request_timeout_ms=request_timeout_ms or REQUEST_TIMEOUT_MS_DEFAULT, retry=retry
            )
        self._on_completed = on_completed
        self._on_failed = on_failed
        self._on_lease_lost = on_lease_lost
        self._on_error = on_error
        # Guards every field below; notified on any change a waiter may care about.
        self._changed = threading.Condition()
        self._active: dict[str, _Active] = {}
        # Leased jobs waiting for a handler thread, in lease order (some leased ahead: prefetch).
        self._ready: deque[_Active] = deque()
        # Handler threads busy with a job (running it, or failing it; acks go to the ack sender).
        self._busy = 0
        # Moving averages that decide whether to lease ahead; None until measured.
        self._handler_ms_avg: float | None = None
        self._lease_round_trip_ms_avg: float | None = None
        # Slots asked for by lease requests in flight, how many requests, and whether the last
        # answer was short (the queues drained: the extra lanes lease too).
        self._slots_asked = 0
        self._lease_calls = 0
        self._drained = False
        self._acks: GroupCommit[_PendingAck] = GroupCommit(self._send_acks, thread_name=f"raftq-{self.worker_id}-acks")
        self._handlers_exit = False
        self._started = False
        self._stopping = threading.Event()
        # Later than _stopping: leases of handlers still running in the grace period need extending.
        self._heartbeats_stop = threading.Event()
        self._stop_requested = threading.Event()
        self._close_lock = threading.Lock()
        self._closed = False
        self._lease_threads = [
            threading.Thread(target=self._lease_loop, args=(lane,), name=f"raftq-{self.worker_id}-lease-{lane}", daemon=True) for lane in range(LEASE_LANES)
        ]
        self._heartbeat_thread = threading.Thread(target=self._heartbeat_loop, name=f"raftq-{self.worker_id}-heartbeat", daemon=True)
        # Not joined at close: a handler that ignores ``aborted`` may run on; its job is no longer ours.
        self._handler_threads = [
            threading.Thread(target=self._handler_loop, name=f"raftq-{self.worker_id}-handler-{n}", daemon=True) for n in range(self._concurrency)
        ]
        self._heartbeats = ThreadPoolExecutor(max_workers=min(self._concurrency, HEARTBEATS_IN_FLIGHT_MAX), thread_name_prefix="raftq-heartbeat")

    @property
    def active_count(self) -> int:
        """Jobs this worker holds: running, waiting for a handler thread, or being settled."""
        with self._changed:
            return len(self._active)

    def start(self) -> None:
        """Starts leasing and handling in background threads. Idempotent; a closed worker stays closed."""
        with self._changed:
            if self._started or self._stopping.is_set():
                return
            self._started = True
        self._acks.start()
        for thread in (*self._lease_threads, self._heartbeat_thread, *self._handler_threads):
            thread.start()

    def run(self, *, handle_signals: bool = True) -> None:
        """Starts, blocks until SIGTERM or SIGINT (or close() from another thread), then closes
        gracefully. Signals are handled only when called from the main thread; a second signal
        takes its usual course (Ctrl-C twice interrupts the graceful close)."""
        previous: dict[int, Any] = {}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            _restore_signals(previous)
            self._stop_requested.set()

        if handle_signals and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, on_signal)
        try:
            self.start()
            self._stop_requested.wait()
        finally:
            _restore_signals(previous)
            self.close()

    def close(self, grace_ms: int | None = None) -> None:
        """Stops leasing, waits up to grace_ms (default shutdown_grace_ms) for running handlers and
        the jobs already leased, then sets the rest's ``aborted`` and hands their jobs back: a job
        whose handler started fails as retryable (it used its attempt), one that never started is
        released untouched. Idempotent; a second caller waits for the first."""
        with self._close_lock:
            if self._closed:
                return
            self._stop_requested.set()
            self._shutdown(self._shutdown_grace_ms if grace_ms is None else grace_ms)
            self._closed = True

    def __enter__(self) -> Worker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ shutdown

    def _shutdown(self, grace_ms: float) -> None:
        with self._changed:
            self._stopping.set()
            self._changed.notify_all()
            self._changed.wait_for(lambda: not self._active, timeout=grace_ms / 1000)
        self._settle_leftovers()
        # Nothing is left to ack: every job the worker held is settled or handed back.
        self._acks.close()
        with self._changed:
            self._handlers_exit = True
            self._changed.notify_all()
        # A lease long poll still waiting is not waited for (an idle worker closes at once):
        # closing its connection tells the node to drop it. An answer that came first is the lease
        # thread's to hand back, over a new connection, before the transport closes.
        self._transport.drop_connections()
        for thread in self._lease_threads:
            if thread.is_alive():
                thread.join()
        self._heartbeats_stop.set()
        if self._heartbeat_thread.is_alive():
            self._heartbeat_thread.join()
        # Heartbeats still retrying have nothing left to extend: closing the transport ends them.
        self._heartbeats.shutdown(wait=False, cancel_futures=True)
        self._transport.close()

    def _settle_leftovers(self) -> None:
        """Hands back every job still held and waits for acks already under way. Loops, because a
        lease answer may land meanwhile and add jobs, which go back before the connection does."""
        while True:
            with self._changed:
                if not self._active:
                    return
                hand_back: list[tuple[_Active, bool]] = []
                for active in list(self._active.values()):
                    if active.phase in ("queued", "running"):
                        hand_back.append((active, active.phase == "queued"))
                        active.phase = "settling"
                        active.job.aborted.set()
                    elif active.phase == "done":
                        # Lease lost and the handler ignores ``aborted``: nothing left to say about it.
                        self._forget(active)
                if not hand_back:
                    # Acks and fails under way finish on their own threads.
                    self._changed.wait()
                    continue
            for active, was_queued in hand_back:
                self._hand_back(active, was_queued, "worker shut down before the handler finished")

    # ------------------------------------------------------------------ leasing

    def _lease_max(self) -> int:
        """Jobs the next lease may ask for: the free handler threads plus what to lease ahead, as
        long as the acks still settling leave room, less what lease requests in flight asked for.
        Under _changed."""
        held = self._busy + len(self._ready)
        settling = len(self._active) - held
        prefetch = prefetch_for(self._concurrency, self._prefetch_max, self._handler_ms_avg, self._lease_round_trip_ms_avg)
        free = min(self._concurrency + prefetch - held, self._concurrency * SETTLING_PER_SLOT_MAX - settling) - self._slots_asked
        return min(free, LEASE_BATCH_MAX)

    def _lane_may_lease(self, lane: int) -> bool:
        """Lane 0 leases whenever slots are free, the others only while the queues are drained.
        Under _changed."""
        return self._lease_max() > 0 and (lane == 0 or self._drained)

    def _lease_loop(self, lane: int) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._stopping.is_set() or self._lane_may_lease(lane))
                if self._stopping.is_set():
                    return
                free = self._lease_max()
                # Drained, each request leaves a share of the free slots to the lanes not yet asking.
                lease_max = -(-free // (LEASE_LANES - self._lease_calls)) if self._drained else free
                self._slots_asked += lease_max
                self._lease_calls += 1
                self._changed.notify_all()
            started = time.monotonic()
            fields = {"queues": self._queues, "max": lease_max, "leaseMs": self._lease_ms, "waitMs": self._poll_wait_ms, "workerId": self.worker_id}
            try:
                jobs = self._transport.call("lease", fields, long_poll_ms=self._poll_wait_ms, abort=self._stopping)["jobs"]
            except RaftqError as error:
                with self._changed:
                    self._slots_asked -= lease_max
                    self._lease_calls -= 1
                    self._changed.notify_all()
                    # One lane retries: the others wait until answers come again.
                    self._drained = False
                if self._stopping.is_set():
                    return
                self._report_error(error)
                self._stopping.wait(self._transport.retry.cap_ms / 1000)
                continue
            with self._changed:
                self._slots_asked -= lease_max
                self._lease_calls -= 1
                self._drained = len(jobs) < lease_max
                # Only a full answer times the round trip: a short one may have long-polled for jobs.
                if len(jobs) == lease_max:
                    self._lease_round_trip_ms_avg = moving_average(self._lease_round_trip_ms_avg, (time.monotonic() - started) * 1000)
                leased = [self._track(wire) for wire in jobs]
                closing = self._stopping.is_set()
                for active in leased:
                    if closing:
                        active.phase = "settling"
                    else:
                        self._ready.append(active)
                self._changed.notify_all()
            if closing:
                # Leased while shutting down: back untouched rather than start new work.
                for active in leased:
                    self._hand_back(active, True, "worker shut down before the job started")
                return
            answered_early = self._poll_wait_ms == 0 or (time.monotonic() - started) * 1000 < self._poll_wait_ms / 2
            if not jobs and answered_early:
                self._stopping.wait(EARLY_EMPTY_POLL_PAUSE_MS / 1000)

    def _track(self, wire: dict[str, Any]) -> _Active:
        """Registers a leased job. Under _changed."""
        payload_error: RaftqError | None = None
        raw = wire.get("payload")
        payload: Any = None
        if raw is not None:
            try:
                payload = decode_value(raw, "payload")
            except RaftqError as error:
                payload, payload_error = bytes(raw), error
        active: _Active
        job = WorkerJob(wire, payload, lambda: self._heartbeat(active))
        active = _Active(job=job, payload_error=payload_error)
        self._active[job.id] = active
        return active

    def _forget(self, active: _Active) -> None:
        """Under _changed. By identity: the same job id may be leased to us again after a lost lease."""
        if self._active.get(active.job.id) is active:
            del self._active[active.job.id]
            self._changed.notify_all()

    # ------------------------------------------------------------------ handling

    def _handler_loop(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._ready) or self._handlers_exit)
                if not self._ready:
                    return
                active = self._ready.popleft()
                # Its lease was lost, or it was handed back, while it waited.
                if active.phase != "queued":
                    continue
                active.phase = "running"
                self._busy += 1
            try:
                self._execute(active)
            finally:
                with self._changed:
                    self._busy -= 1
                    # A job being acked is the ack sender's to forget; one handed back, _hand_back's.
                    if active.phase == "done":
                        self._forget(active)
                    self._changed.notify_all()

    def _execute(self, active: _Active) -> None:
        started = time.monotonic()
        try:
            if active.payload_error is not None:
                raise active.payload_error
            result = self._handler(active.job)
            failure: BaseException | None = None
        except BaseException as error:  # even SystemExit: a handler's failure is the job's, never its thread's
            result, failure = None, error
        with self._changed:
            self._handler_ms_avg = moving_average(self._handler_ms_avg, (time.monotonic() - started) * 1000)
            # Lease lost, or handed back at shutdown: the job is no longer ours to settle.
            if active.phase != "running":
                return
            active.phase = "settling"
        if failure is None:
            self._ack(active, result)
        else:
            self._fail(active, failure, getattr(failure, "retryable", True) is not False)

    def _ack(self, active: _Active, result: Any) -> None:
        """Hands the result to the ack sender (see _send_acks). A result that cannot be sent fails
        the job on its own thread instead; retrying cannot make it encodable or smaller, so the
        failure says why, without another attempt."""
        try:
            encoded = _encoded_result(result)
        except RaftqError as rejected:
            self._fail(active, rejected, False)
            return
        self._acks.add(_PendingAck(active, result, encoded))

    def _send_acks(self, group: list[_PendingAck]) -> None:
        """Settles the acks of handlers that returned while the previous group was under way: a
        lone one as ``ack``, more as ``ackMany`` requests (of ACK_BATCH_MAX acks and half a frame
        at most), one after another. Runs on the ack sender thread."""
        try:
            for chunk in split_batches(group, _ack_bytes, ACK_BATCH_MAX, ACK_REQUEST_BYTES_MAX):
                if len(chunk) == 1:
                    self._ack_one(chunk[0])
                else:
                    self._ack_many(chunk)
        finally:
            # Settled or not (a bug above), these jobs are done with: close() must not wait for them.
            with self._changed:
                for pending in group:
                    pending.active.phase = "done"
                    self._forget(pending.active)

    def _ack_one(self, pending: _PendingAck) -> None:
        job = pending.active.job
        fields = {"jobId": job.id, "token": job.token, "result": pending.encoded}
        if self._settle(pending.active, "ack", fields) is not None:
            self._callback(self._on_completed, job, pending.result)

    def _ack_many(self, chunk: list[_PendingAck]) -> None:
        """One ackMany request; the node settles each ack on its own, so one stale token fails
        only that job's ack."""
        try:
            answer = self._transport.call("ackMany", {"acks": [_ack_item(pending) for pending in chunk]})
        except RaftqError as error:
            # None of these jobs is acked: their leases expire and they run again.
            for pending in chunk:
                self._done(pending.active)
            self._report_error(error)
            return
        for pending, error in zip(chunk, ack_many_errors(answer, len(chunk))):
            if error is None:
                self._done(pending.active)
                self._callback(self._on_completed, pending.active.job, pending.result)
            elif not self._lease_was_lost(pending.active, error):
                self._done(pending.active)
                self._report_error(error)

    def _fail(self, active: _Active, error: BaseException, retryable: bool) -> None:
        job = active.job
        fields = {"jobId": job.id, "token": job.token, "error": _error_message(error), "retryable": retryable}
        answer = self._settle(active, "fail", fields)
        if answer is not None:
            self._callback(self._on_failed, job, error, FailOutcome(state=answer["state"], retry_at_ms=ms_or_none(answer.get("retryAtMs"))))

    def _settle(self, active: _Active, op: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Sends the ack or fail that settles a job: its answer, or None when the lease was lost
        (told to on_lease_lost) or the request failed (told to on_error; the lease will expire)."""
        try:
            answer: dict[str, Any] = self._transport.call(op, fields)
        except RaftqError as error:
            if not self._lease_was_lost(active, error):
                self._done(active)
                self._report_error(error)
            return None
        self._done(active)
        return answer

    def _hand_back(self, active: _Active, was_queued: bool, reason: str) -> None:
        """Gives a job back: one no handler started without using an attempt, a started one as a
        retryable failure (it used its attempt). Never raises."""
        job = active.job
        try:
            if was_queued:
                self._transport.call("release", {"jobId": job.id, "token": job.token})
            else:
                self._transport.call("fail", {"jobId": job.id, "token": job.token, "error": reason, "retryable": True})
        except RaftqError as error:
            if not _is_lease_loss(error):
                self._report_error(error)
        with self._changed:
            active.phase = "done"
            self._forget(active)

    def _done(self, active: _Active) -> None:
        with self._changed:
            active.phase = "done"

    # ------------------------------------------------------------------ heartbeats

    def _heartbeat_loop(self) -> None:
        # Checked twice per interval, so a job is extended at most lease_ms / 2 after its last renewal.
        every_s = max(0.001, self._lease_ms / 3 / 1000)
        while not self._heartbeats_stop.wait(every_s / 2):
            due_before = time.monotonic() - every_s
            with self._changed:
                due = [a for a in self._active.values() if a.phase in ("queued", "running") and a.renewed_at <= due_before and not a.heartbeat_in_flight]
                for active in due:
                    # One at a time per job: a slow answer must not pile up heartbeats behind it.
                    active.heartbeat_in_flight = True
            for active in due:
                self._heartbeats.submit(self._auto_heartbeat, active)

    def _auto_heartbeat(self, active: _Active) -> None:
        try:
            self._heartbeat(active)
        except RaftqError as error:
            if not _is_lease_loss(error):
                self._report_error(error)
        finally:
            with self._changed:
                active.heartbeat_in_flight = False

    def _heartbeat(self, active: _Active) -> None:
        job = active.job
        with self._changed:
            if active.phase not in ("queued", "running"):
                raise StaleLeaseError(f"job {job.id}: the lease is no longer held")
        sent_at = time.monotonic()
        try:
            answer = self._transport.call("heartbeat", {"jobId": job.id, "token": job.token, "leaseMs": self._lease_ms})
        except RaftqError as error:
            self._lease_was_lost(active, error, holding_only=True)
            raise
        with self._changed:
            active.renewed_at = max(active.renewed_at, sent_at)
            job.lease_expires_at_ms = ms(answer["leaseExpiresAtMs"])

    def _lease_was_lost(self, active: _Active, error: RaftqError, holding_only: bool = False) -> bool:
        """When ``error`` says the lease is gone: abort the handler, tell on_lease_lost, return True.

        ``holding_only``: a heartbeat may race this worker's own ack, whose success makes the lease
        stale; only a job still running or queued has lost it then."""
        if not _is_lease_loss(error):
            return False
        with self._changed:
            if active.phase == "done" or (holding_only and active.phase == "settling"):
                return True
            was_queued = active.phase == "queued"
            active.phase = "done"
            active.job.aborted.set()
            # No handler will run it: it leaves the queue, so the lease loop counts it no more.
            if was_queued:
                self._ready.remove(active)
                self._forget(active)
        self._callback(self._on_lease_lost, active.job, error)
        return True

    # ------------------------------------------------------------------ reporting

    def _report_error(self, error: BaseException) -> None:
        # After close the transport's "closed" errors say nothing new.
        if self._transport.closed:
            return
        if self._on_error is not None:
            self._callback(self._on_error, error)
        else:
            logger.warning("raftq worker %s: %s", self.worker_id, error)

    def _callback(self, callback: Callable[..., None] | None, *args: Any) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:  # a listener's bug must not stop the worker
            logger.exception("raftq worker %s: a callback raised", self.worker_id)


def prefetch_for(concurrency: int, prefetch_max: int, handler_ms_avg: float | None, lease_round_trip_ms_avg: float | None) -> int:
    """Jobs to lease ahead of free handler threads: none while a handler takes as long as a lease
    round trip or longer (or either is not measured yet), since a freed thread then has its next
    job before it needs it; else what the threads finish during one round trip (Little's law), up
    to prefetch_max. So the jobs held ahead are about one round trip of work: little that other
    workers could have run waits here, and larger leases make fewer, larger Raft entries."""
    if handler_ms_avg is None or lease_round_trip_ms_avg is None or not handler_ms_avg < lease_round_trip_ms_avg:
        return 0
    if handler_ms_avg <= 0:
        return prefetch_max
    return min(prefetch_max, math.ceil(concurrency * lease_round_trip_ms_avg / handler_ms_avg))


def moving_average(average_ms: float | None, sample_ms: float) -> float:
    """Exponentially weighted, the newest sample a fifth: follows a change within a few dozen jobs."""
    return sample_ms if average_ms is None else average_ms * 0.8 + sample_ms * 0.2


def ack_many_errors(answer: Any, acks_count: int) -> list[RaftqError | None]:
    """Per ack of an ackMany request, in order: None for one the node applied, else why not."""
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list):
        results = []
    errors: list[RaftqError | None] = []
    for index in range(acks_count):
        item = results[index] if index < len(results) else None
        if isinstance(item, dict) and "state" in item:
            errors.append(None)
        elif isinstance(item, dict) and "error" in item:
            errors.append(error_from_wire(item["error"]))
        else:
            errors.append(InternalError(f"ackMany answered {len(results)} results for {acks_count} acks; #{index} is {item!r}"))
    return errors


def _encoded_result(result: Any) -> bytes | None:
    """A handler's result as the ack carries it (None: no result); raises when it cannot go."""
    if result is None:
        return None
    try:
        encoded = encode_value(result, "result")
    except BadRequestError as error:
        raise BadRequestError(f"handler result rejected: {error.message}", field="result") from None
    if len(encoded) > RESULT_BYTES_MAX:
        raise PayloadTooLargeError(f"handler result rejected: result of {len(encoded)} bytes exceeds {RESULT_BYTES_MAX}", field="result")
    return encoded


def _ack_item(pending: _PendingAck) -> dict[str, Any]:
    job = pending.active.job
    item: dict[str, Any] = {"jobId": job.id, "token": job.token}
    # Absent, not nil: the transport drops None only from a request's top-level fields.
    if pending.encoded is not None:
        item["result"] = pending.encoded
    return item


def _ack_bytes(pending: _PendingAck) -> int:
    return (len(pending.encoded) if pending.encoded is not None else 0) + ACK_BYTES_BEYOND_RESULT_MAX


def _is_lease_loss(error: BaseException) -> bool:
    """STALE_LEASE: another worker holds the job now. NOT_FOUND: the job is gone (cancelled, purged)."""
    return isinstance(error, RaftqError) and error.code in ("STALE_LEASE", "NOT_FOUND")


def _error_message(error: BaseException) -> str:
    """``Type: message`` as a traceback's last line says it, bounded as the protocol bounds it."""
    text = str(error) if isinstance(error, RaftqError) else (f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
    return truncate_utf16(text, ERROR_MESSAGE_LENGTH_MAX)


def truncate_utf16(text: str, units_max: int) -> str:
    """``text`` cut to at most units_max UTF-16 code units (the node counts JavaScript string
    length), never inside a surrogate pair; lone surrogates, which UTF-8 cannot carry, become '?'."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    encoded = text.encode("utf-16-le")
    if len(encoded) <= units_max * 2:
        return text
    return encoded[: units_max * 2].decode("utf-16-le", "ignore")


def _bounded(value: int, low: int, high: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequestError(f"{name} must be an integer in {low}..{high}", field=name)
    return value


def _default_worker_id() -> str:
    worker_id = re.sub(r"[^A-Za-z0-9._:-]", "-", f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")[-128:]
    return worker_id if is_id(worker_id) else str(uuid.uuid4())


def _restore_signals(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    previous.clear()
