"""Worker against a fake node with a small job model: leases with tokens, long polls,
heartbeats, ack, ackMany, fail and release (test/client/worker.test.ts proves the same for
TypeScript)."""

import os
import signal
import subprocess
import sys
import threading
import time
import unittest
from collections import deque
from typing import Any, Callable

from raftq import PermanentError, RetryOptions, StaleLeaseError, Worker, WorkerJob
from raftq.values import decode_value, encode_value
from raftq.worker import ack_many_errors, prefetch_for

from .fake_node import FakeNode, WireError

FAST = RetryOptions(attempts=3, base_ms=1, cap_ms=5)
WAIT_S = 5


class JobsBroker:
    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.waiting: deque[str] = deque()
        self.payloads: dict[str, bytes] = {}
        self.attempts: dict[str, int] = {}
        self.tokens: dict[str, str] = {}
        self.acks: dict[str, Any] = {}
        self.fails: dict[str, list[tuple[str, bool]]] = {}
        self.released: list[str] = []
        self.heartbeats: dict[str, int] = {}
        self.leases_parked = 0
        self.lease_maxes: list[int] = []
        # Tokens the node no longer honours (the lease expired and went to another worker).
        self.stale_tokens: set[str] = set()
        # Run first on every request, outside the broker's lock: may hold a request back.
        self.intercept: Callable[[dict[str, Any]], None] = lambda request: None

    def add(self, job_id: str, payload: Any = None, raw: bytes | None = None) -> None:
        with self.changed:
            self.payloads[job_id] = raw if raw is not None else encode_value(payload)
            self.attempts[job_id] = 0
            self.waiting.append(job_id)
            self.changed.notify_all()

    def until(self, what: str, predicate: Callable[[], bool]) -> None:
        """Waits for the broker's own state: every request notifies, nothing else does."""
        with self.changed:
            if not self.changed.wait_for(predicate, timeout=WAIT_S):
                raise AssertionError(f"timed out waiting for {what}")

    def __call__(self, request: dict[str, Any]) -> Any:
        self.intercept(request)
        with self.changed:
            try:
                return self.answer(request)
            finally:
                self.changed.notify_all()

    def answer(self, request: dict[str, Any]) -> Any:
        op = request["op"]
        if op == "hello":
            return {"nodeId": "n1", "leader": "n1", "nodes": []}
        if op == "lease":
            return self.lease(request)
        if op == "ackMany":
            return {"results": [self.ack_item(ack) for ack in request["acks"]]}
        job_id = request["jobId"]
        self.check_token(job_id, request["token"])
        if op == "heartbeat":
            self.heartbeats[job_id] = self.heartbeats.get(job_id, 0) + 1
            return {"leaseExpiresAtMs": time.time() * 1000 + request["leaseMs"]}
        if op == "ack":
            return self.ack(job_id, request)
        del self.tokens[job_id]
        if op == "fail":
            self.fails.setdefault(job_id, []).append((request["error"], request["retryable"]))
            return {"state": "failed" if request["retryable"] else "dead", "retryAtMs": None}
        if op == "release":
            self.released.append(job_id)
            self.attempts[job_id] -= 1
            return {"state": "waiting"}
        raise WireError("BAD_REQUEST", f"unexpected op {op}")

    def check_token(self, job_id: str, token: str) -> None:
        if token in self.stale_tokens or self.tokens.get(job_id) != token:
            raise WireError("STALE_LEASE", f"job {job_id}: stale token")

    def ack(self, job_id: str, ack: dict[str, Any]) -> Any:
        del self.tokens[job_id]
        self.acks[job_id] = decode_value(ack["result"]) if "result" in ack else None
        return {"state": "completed"}

    def ack_item(self, ack: dict[str, Any]) -> Any:
        """One ack of an ackMany: settled on its own, so a stale token fails only itself."""
        try:
            self.check_token(ack["jobId"], ack["token"])
        except WireError as error:
            return {"error": error.wire}
        return self.ack(ack["jobId"], ack)

    def lease(self, request: dict[str, Any]) -> Any:
        self.lease_maxes.append(request["max"])
        self.leases_parked += 1
        self.changed.notify_all()
        self.changed.wait_for(lambda: bool(self.waiting), timeout=request["waitMs"] / 1000)
        self.leases_parked -= 1
        jobs: list[dict[str, Any]] = []
        while self.waiting and len(jobs) < request["max"]:
            job_id = self.waiting.popleft()
            self.attempts[job_id] += 1
            token = f"{job_id}:{self.attempts[job_id]}"
            self.tokens[job_id] = token
            jobs.append({
                "id": job_id, "queue": request["queues"][0], "name": "default", "payload": self.payloads[job_id], "priority": 5,
                "attempt": self.attempts[job_id], "maxAttempts": 3, "token": token, "leaseExpiresAtMs": time.time() * 1000 + request["leaseMs"],
            })
        return {"jobs": jobs}


def wait_worker(worker: Worker, what: str, predicate: Callable[[], bool]) -> None:
    """Waits for the worker's own state, which its condition guards (white box: no public hook)."""
    with worker._changed:
        if not worker._changed.wait_for(predicate, timeout=WAIT_S):
            raise AssertionError(f"timed out waiting for {what}")


class WorkerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.broker = JobsBroker()
        self.fake = FakeNode(self.broker)
        self.cleanups: list[Callable[[], None]] = [self.fake.close]

    def tearDown(self) -> None:
        for cleanup in reversed(self.cleanups):
            cleanup()

    def worker(self, handler: Callable[[WorkerJob], Any], start: bool = True, **options: Any) -> Worker:
        options.setdefault("poll_wait_ms", 1_000)
        options.setdefault("shutdown_grace_ms", 2_000)
        worker = Worker([self.fake.address], "q", handler, retry=FAST, worker_id="w1", **options)
        self.cleanups.append(lambda: worker.close(grace_ms=0))
        if start:
            worker.start()
        return worker

    def fast_worker(self, handler: Callable[[WorkerJob], Any], **options: Any) -> Worker:
        """A worker that leases ahead from its first lease on: its moving averages start as if
        handlers had taken 1 ms and lease round trips 100 ms (white box: measured ones vary)."""
        worker = self.worker(handler, start=False, **options)
        worker._handler_ms_avg, worker._lease_round_trip_ms_avg = 1.0, 100.0
        worker.start()
        return worker

    def acks_behind_a_held_one(self, result_of: Callable[[WorkerJob], Any], acks_waiting: int, **options: Any) -> list[dict[str, Any]]:
        """Jobs first, a, b and c on four handler threads: the node holds the first ack request
        (first's) until the other three handlers have returned ``result_of(job)`` and
        ``acks_waiting`` of them wait to be sent; then all settle. Returns the ack requests."""
        first_arrived, first_may_answer = threading.Event(), threading.Event()
        others_may_return = threading.Event()
        self.cleanups.append(first_may_answer.set)
        self.cleanups.append(others_may_return.set)

        def hold_first_ack(request: dict[str, Any]) -> None:
            if request["op"] in ("ack", "ackMany") and not first_arrived.is_set():
                first_arrived.set()
                first_may_answer.wait(WAIT_S)

        def handler(job: WorkerJob) -> Any:
            if job.id != "first":
                others_may_return.wait(WAIT_S)
            return result_of(job)

        self.broker.intercept = hold_first_ack
        for job_id in ("first", "a", "b", "c"):
            self.broker.add(job_id, job_id)
        worker = self.worker(handler, concurrency=4, **options)
        self.assertTrue(first_arrived.wait(WAIT_S))
        others_may_return.set()
        wait_worker(worker, f"{acks_waiting} acks waiting", lambda: worker._acks.pending_count == acks_waiting)
        first_may_answer.set()
        wait_worker(worker, "every job settled", lambda: not worker._active)
        return [request for request in self.fake.requests if request["op"] in ("ack", "ackMany")]

    def test_runs_at_most_concurrency_handlers_at_once_and_acks_each_result(self) -> None:
        running = 0
        most = 0
        lock = threading.Lock()

        def handler(job: WorkerJob) -> Any:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.01)  # hold the slot a little, so handlers overlap
            with lock:
                running -= 1
            return {"double": job.payload["n"] * 2}

        for n in range(20):
            self.broker.add(f"j{n}", {"n": n})
        self.worker(handler, concurrency=3)
        self.broker.until("20 acks", lambda: len(self.broker.acks) == 20)
        self.assertEqual(self.broker.acks, {f"j{n}": {"double": n * 2} for n in range(20)})
        self.assertLessEqual(most, 3)
        # Free threads, plus up to prefetch (4 x concurrency) ahead while handlers outpace a lease round trip.
        self.assertTrue(all(1 <= m <= 3 + 12 for m in self.broker.lease_maxes))

    def test_a_raising_handler_fails_the_job_retryable_unless_the_error_says_otherwise(self) -> None:
        def handler(job: WorkerJob) -> Any:
            if job.id == "retry":
                raise ValueError("boom")
            raise PermanentError("never works")

        self.broker.add("retry", 1)
        self.broker.add("permanent", 2)
        self.worker(handler, concurrency=2)
        self.broker.until("two fails", lambda: len(self.broker.fails) == 2)
        self.assertEqual(self.broker.fails, {"retry": [("ValueError: boom", True)], "permanent": [("PermanentError: never works", False)]})
        self.assertEqual(self.broker.acks, {})

    def test_a_payload_that_is_not_msgpack_fails_without_running_the_handler(self) -> None:
        ran: list[str] = []
        self.broker.add("bad", raw=b"\xc1")
        self.worker(lambda job: ran.append(job.id))
        self.broker.until("the fail", lambda: "bad" in self.broker.fails)
        [(message, retryable)] = self.broker.fails["bad"]
        self.assertIn("not one msgpack value", message)
        self.assertFalse(retryable)
        self.assertEqual(ran, [])

    def test_a_result_msgpack_cannot_encode_fails_the_job_without_another_attempt(self) -> None:
        self.broker.add("j", 1)
        self.worker(lambda job: object())
        self.broker.until("the fail", lambda: "j" in self.broker.fails)
        [(message, retryable)] = self.broker.fails["j"]
        self.assertIn("handler result rejected", message)
        self.assertFalse(retryable)

    def test_heartbeats_every_lease_ms_over_3_while_a_handler_runs(self) -> None:
        def handler(job: WorkerJob) -> Any:
            self.broker.until("two heartbeats", lambda: self.broker.heartbeats.get(job.id, 0) >= 2)
            return "done"

        self.broker.add("long", 1)
        self.worker(handler, lease_ms=300)
        self.broker.until("the ack", lambda: "long" in self.broker.acks)
        self.assertEqual(self.broker.acks["long"], "done")

    def test_a_heartbeat_answered_stale_lease_aborts_the_handler_and_nothing_is_acked(self) -> None:
        lost: list[tuple[str, str]] = []
        returned = threading.Event()

        def handler(job: WorkerJob) -> Any:
            with self.broker.changed:
                self.broker.stale_tokens.add(job.token)  # the lease went to another worker
            aborted = job.aborted.wait(WAIT_S)
            with self.assertRaises(StaleLeaseError):
                job.heartbeat()
            returned.set()
            return "too late" if aborted else "never aborted"

        self.broker.add("j", 1)
        worker = self.worker(handler, lease_ms=300, on_lease_lost=lambda job, error: lost.append((job.id, error.code)))
        self.assertTrue(returned.wait(WAIT_S))
        self.assertEqual(lost, [("j", "STALE_LEASE")])
        # The worker forgets the job once its handler returns, and never acks it.
        wait_worker(worker, "the worker to hold nothing", lambda: not worker._active)
        self.assertEqual((self.broker.acks, self.broker.fails), ({}, {}))

    def test_an_ack_answered_stale_lease_is_not_retried_and_the_worker_goes_on(self) -> None:
        lost: list[str] = []
        first_lost = threading.Event()

        def handler(job: WorkerJob) -> Any:
            if job.id == "first":
                with self.broker.changed:
                    self.broker.stale_tokens.add(job.token)
            return job.id

        def on_lease_lost(job: WorkerJob, error: Exception) -> None:
            lost.append(job.id)
            first_lost.set()

        self.broker.add("first", 1)
        self.broker.add("second", 2)
        self.worker(handler, on_lease_lost=on_lease_lost)
        self.broker.until("the second ack", lambda: "second" in self.broker.acks)
        # Both acks may share one ackMany, whose answer the worker reads after the node has
        # recorded the second: wait for the callback itself.
        self.assertTrue(first_lost.wait(WAIT_S))
        self.assertEqual(lost, ["first"])
        self.assertEqual(list(self.broker.acks), ["second"])
        # The stale ack was sent once, alone or in a group, and not again.
        sent = [r for r in self.fake.of_op("ack") if r["jobId"] == "first"]
        sent += [a for r in self.fake.of_op("ackMany") for a in r["acks"] if a["jobId"] == "first"]
        self.assertEqual(len(sent), 1)

    def test_acks_that_finish_while_one_is_under_way_go_together_as_one_ack_many(self) -> None:
        completed: list[str] = []
        requests = self.acks_behind_a_held_one(
            lambda job: None if job.id == "b" else {"done": job.id}, acks_waiting=3, on_completed=lambda job, result: completed.append(job.id),
        )
        self.assertEqual([(r["op"], r.get("jobId")) for r in requests], [("ack", "first"), ("ackMany", None)])
        together = {ack["jobId"]: ack for ack in requests[1]["acks"]}
        self.assertEqual(sorted(together), ["a", "b", "c"])
        self.assertNotIn("result", together["b"])  # no result: the field is absent
        self.assertEqual(self.broker.acks, {"first": {"done": "first"}, "a": {"done": "a"}, "b": None, "c": {"done": "c"}})
        self.assertEqual(sorted(completed), ["a", "b", "c", "first"])

    def test_a_stale_token_in_an_ack_many_fails_only_that_jobs_ack(self) -> None:
        completed: list[str] = []
        lost: list[tuple[str, str]] = []
        errors: list[BaseException] = []

        def result_of(job: WorkerJob) -> Any:
            if job.id == "b":
                with self.broker.changed:
                    self.broker.stale_tokens.add(job.token)  # its lease went to another worker
            return job.id

        requests = self.acks_behind_a_held_one(
            result_of, acks_waiting=3, on_completed=lambda job, result: completed.append(job.id),
            on_lease_lost=lambda job, error: lost.append((job.id, error.code)), on_error=errors.append,
        )
        self.assertEqual(sorted(ack["jobId"] for ack in requests[-1]["acks"]), ["a", "b", "c"])
        self.assertEqual(self.broker.acks, {"first": "first", "a": "a", "c": "c"})
        self.assertEqual(sorted(completed), ["a", "c", "first"])
        self.assertEqual((lost, errors), ([("b", "STALE_LEASE")], []))

    def test_a_result_that_cannot_be_sent_fails_its_job_alone_and_the_rest_are_acked_together(self) -> None:
        requests = self.acks_behind_a_held_one(lambda job: object() if job.id == "b" else job.id, acks_waiting=2)
        self.assertEqual(sorted(ack["jobId"] for ack in requests[-1]["acks"]), ["a", "c"])
        self.assertEqual(self.broker.acks, {"first": "first", "a": "a", "c": "c"})
        [(message, retryable)] = self.broker.fails["b"]
        self.assertIn("handler result rejected", message)
        self.assertFalse(retryable)

    def test_keeps_four_lease_requests_waiting_while_the_queue_is_drained_one_while_it_is_busy(self) -> None:
        # Per lease request: the worker's requests in flight, and the jobs still queued when it came.
        seen: list[tuple[int, int]] = []
        holder: list[Worker] = []

        def record(request: dict[str, Any]) -> None:
            if request["op"] == "lease" and holder:
                with holder[0]._changed:
                    in_flight = holder[0]._lease_calls
                with self.broker.changed:
                    seen.append((in_flight, len(self.broker.waiting)))

        self.broker.intercept = record
        worker = self.worker(lambda job: time.sleep(0.001), start=False, concurrency=8, prefetch=0)
        holder.append(worker)
        worker.start()
        # Nothing known yet: one request for every handler thread.
        self.broker.until("one lease waiting", lambda: self.broker.leases_parked == 1)
        self.assertEqual(self.broker.lease_maxes[0], 8)
        # Its answer is short (1 of 8): the queue is drained, so four long polls wait, sharing the threads.
        self.broker.add("first", 1)
        self.broker.until("four leases waiting", lambda: self.broker.leases_parked == 4)
        self.assertLessEqual(sum(self.broker.lease_maxes[-4:]), 8)
        # A backlog answers every request in full: the extra lanes stop, one request at a time goes on.
        with self.broker.changed:
            for n in range(200):
                job_id = f"j{n}"
                self.broker.payloads[job_id] = encode_value(n)
                self.broker.attempts[job_id] = 0
                self.broker.waiting.append(job_id)
            self.broker.changed.notify_all()
        self.broker.until("every job acked", lambda: len(self.broker.acks) == 201)
        while_busy = [in_flight for in_flight, queued in seen if queued >= 16]
        self.assertGreater(len(while_busy), 10)
        self.assertEqual(while_busy[-5:], [1, 1, 1, 1, 1])

    def test_never_leases_ahead_of_free_threads_while_handlers_are_slower_than_a_lease_round_trip(self) -> None:
        for n in range(3):
            self.broker.add(f"j{n}", n)
        # Clearly slower than a lease round trip on loopback (well under a millisecond).
        worker = self.worker(lambda job: time.sleep(0.1), concurrency=1)
        self.broker.until("three acks", lambda: len(self.broker.acks) == 3)
        with worker._changed:
            self.assertGreater(worker._handler_ms_avg, worker._lease_round_trip_ms_avg)
        self.assertEqual(set(self.broker.lease_maxes), {1})

    def test_leases_ahead_while_handlers_outpace_a_round_trip_and_close_releases_what_never_started(self) -> None:
        started = threading.Event()

        def handler(job: WorkerJob) -> Any:
            started.set()
            job.aborted.wait(WAIT_S)

        for n in range(5):
            self.broker.add(f"j{n}", n)
        worker = self.fast_worker(handler, concurrency=1, prefetch=3)
        self.assertTrue(started.wait(WAIT_S))
        wait_worker(worker, "three jobs leased ahead", lambda: len(worker._ready) == 3)
        self.assertEqual(self.broker.lease_maxes, [4])  # one free thread and three ahead; then no more
        worker.close(grace_ms=0)
        self.assertEqual(sorted(self.broker.released), ["j1", "j2", "j3"])
        self.assertEqual([self.broker.attempts[f"j{n}"] for n in range(1, 4)], [0, 0, 0])  # release undid the attempts
        self.assertEqual(self.broker.fails, {"j0": [("worker shut down before the handler finished", True)]})

    def test_jobs_leased_ahead_are_heartbeated_while_they_wait(self) -> None:
        def handler(job: WorkerJob) -> Any:
            if job.id == "first":
                self.broker.until("two heartbeats of the job waiting", lambda: self.broker.heartbeats.get("ahead", 0) >= 2)
            return job.id

        self.broker.add("first", 1)
        self.broker.add("ahead", 2)
        self.fast_worker(handler, concurrency=1, prefetch=1, lease_ms=300)
        self.broker.until("both acks", lambda: len(self.broker.acks) == 2)
        self.assertEqual(self.broker.lease_maxes[0], 2)

    def test_close_stops_leasing_and_waits_for_running_handlers_to_finish_and_ack(self) -> None:
        may_finish = threading.Event()
        self.broker.add("j", 1)
        started = threading.Event()

        def handler(job: WorkerJob) -> Any:
            started.set()
            return may_finish.wait(WAIT_S) and "finished"

        worker = self.worker(handler)
        self.assertTrue(started.wait(WAIT_S))
        closing = threading.Thread(target=worker.close)
        closing.start()
        self.assertTrue(worker._stopping.wait(WAIT_S))
        leases = len(self.fake.of_op("lease"))
        may_finish.set()
        closing.join(WAIT_S)
        self.assertFalse(closing.is_alive())
        self.assertEqual(self.broker.acks, {"j": "finished"})
        self.assertEqual(len(self.fake.of_op("lease")), leases)

    def test_after_the_grace_period_unfinished_jobs_are_failed_back_as_retryable_and_aborted(self) -> None:
        started, aborted = threading.Event(), threading.Event()

        def handler(job: WorkerJob) -> Any:
            started.set()
            if job.aborted.wait(WAIT_S):
                aborted.set()

        self.broker.add("stuck", 1)
        worker = self.worker(handler)
        self.assertTrue(started.wait(WAIT_S))
        worker.close(grace_ms=50)
        self.assertTrue(aborted.wait(WAIT_S))
        self.assertEqual(self.broker.fails, {"stuck": [("worker shut down before the handler finished", True)]})
        self.assertEqual(self.broker.acks, {})

    def test_jobs_leased_while_closing_are_released_untouched(self) -> None:
        started, may_finish = threading.Event(), threading.Event()
        ran: list[str] = []

        def handler(job: WorkerJob) -> Any:
            ran.append(job.id)
            started.set()
            return may_finish.wait(WAIT_S) and "ok"

        self.broker.add("running", 1)
        worker = self.worker(handler, concurrency=2, poll_wait_ms=10_000)
        self.assertTrue(started.wait(WAIT_S))
        self.broker.until("a lease to wait for the free slot", lambda: self.broker.leases_parked == 1)
        closing = threading.Thread(target=worker.close)
        closing.start()
        self.assertTrue(worker._stopping.wait(WAIT_S))
        self.broker.add("late", 2)  # the parked lease takes it after the worker began closing
        self.broker.until("the release", lambda: self.broker.released == ["late"])
        may_finish.set()
        closing.join(WAIT_S)
        self.assertEqual(ran, ["running"])
        self.assertEqual(self.broker.acks, {"running": "ok"})
        self.assertEqual(self.broker.attempts["late"], 0)  # release undid the attempt

    def test_an_idle_worker_closes_without_waiting_for_its_long_poll(self) -> None:
        worker = self.worker(lambda job: None, poll_wait_ms=30_000)
        self.broker.until("the long poll", lambda: self.broker.leases_parked == 1)
        started = time.monotonic()
        worker.close()
        self.assertLess(time.monotonic() - started, 2)

    def test_a_drained_worker_closes_without_waiting_for_its_four_long_polls(self) -> None:
        worker = self.worker(lambda job: None, poll_wait_ms=30_000, concurrency=8)
        self.broker.until("the long poll", lambda: self.broker.leases_parked == 1)
        self.broker.add("only", 1)  # answered short: the queue is drained, four polls wait
        self.broker.until("four long polls", lambda: self.broker.leases_parked == 4)
        started = time.monotonic()
        worker.close()
        self.assertLess(time.monotonic() - started, 2)

    def test_run_closes_gracefully_on_sigterm_and_returns(self) -> None:
        script = (
            "import sys; from raftq import Worker; "
            "Worker([sys.argv[1]], 'q', lambda job: None, poll_wait_ms=30_000, worker_id='w-signal').run(); print('closed')"
        )
        sdk_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        child = subprocess.Popen([sys.executable, "-c", script, self.fake.address], cwd=sdk_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.cleanups.append(child.kill)
        self.broker.until("the worker's long poll", lambda: self.broker.leases_parked == 1)
        child.send_signal(signal.SIGTERM)
        stdout, stderr = child.communicate(timeout=WAIT_S)
        self.assertEqual((child.returncode, stdout.strip()), (0, "closed"), stderr)

    def test_refuses_options_out_of_bounds(self) -> None:
        for options in ({"concurrency": 0}, {"lease_ms": 50}, {"poll_wait_ms": 60_001}, {"concurrency": 1.5}, {"prefetch": -1}, {"prefetch": 1001}):
            with self.assertRaises(Exception, msg=str(options)):
                Worker([self.fake.address], "q", lambda job: None, **options)


class PrefetchForTest(unittest.TestCase):
    def test_leases_nothing_ahead_until_handlers_are_measured_faster_than_a_lease_round_trip(self) -> None:
        self.assertEqual(prefetch_for(10, 40, None, 5), 0)
        self.assertEqual(prefetch_for(10, 40, 1, None), 0)
        self.assertEqual(prefetch_for(10, 40, 5, 5), 0)
        self.assertEqual(prefetch_for(10, 40, 8, 5), 0)

    def test_leases_ahead_what_the_threads_finish_in_one_round_trip_up_to_the_bound(self) -> None:
        self.assertEqual(prefetch_for(10, 40, 4, 5), 13)  # 10 threads x 5 ms / 4 ms
        self.assertEqual(prefetch_for(10, 40, 2.5, 5), 20)
        self.assertEqual(prefetch_for(10, 40, 0.1, 5), 40)
        self.assertEqual(prefetch_for(10, 40, 0, 5), 40)
        self.assertEqual(prefetch_for(10, 0, 0.1, 5), 0)  # prefetch=0 turns it off


class AckManyErrorsTest(unittest.TestCase):
    def test_reads_each_acks_outcome_in_order_and_names_those_the_answer_left_out(self) -> None:
        stale = {"code": "STALE_LEASE", "message": "job b: stale token", "retryable": False}
        errors = ack_many_errors({"results": [{"state": "completed"}, {"error": stale}]}, 3)
        self.assertIsNone(errors[0])
        self.assertEqual([error.code if error else None for error in errors[1:]], ["STALE_LEASE", "INTERNAL"])
        self.assertIn("2 results for 3 acks", str(errors[2]))


if __name__ == "__main__":
    unittest.main()
