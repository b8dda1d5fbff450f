"""Transport and Client against fake nodes: the same sessions, retries and failover as the
TypeScript SDK (test/client/client.test.ts proves the same rules for it)."""

import threading
import time
import unittest
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from unittest import mock

from raftq import BadRequestError, Client, InternalError, JobSpec, NoLeaderError, PayloadTooLargeError, RequestTimeoutError, RetryOptions, SubmitManyOutcome
from raftq.errors import closed_error
from raftq.session import SessionWindow
from raftq.transport import Transport
from raftq.values import decode_value

from .fake_node import Drop, FakeNode, WireError, dead_address, drop_everything

FAST = RetryOptions(attempts=5, base_ms=1, cap_ms=5)


def always(code: str, message: str) -> Callable[[dict[str, Any]], None]:
    """An intercept answering every request with this retryable error."""

    def answer(request: dict[str, Any]) -> None:
        raise WireError(code, message, retryable=True)

    return answer


class Broker:
    """Enough of a node for the producer side: sessions answer a retried seq once, enqueue, get."""

    def __init__(self, leader: str | None = None, nodes: list[dict[str, str]] | None = None) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.sessions: dict[tuple[str, int], Any] = {}
        self.hello = {"nodeId": "n1", "leader": leader, "nodes": nodes or []}
        # Run first on every request but hello: raise WireError or Drop to answer otherwise.
        self.intercept: Callable[[dict[str, Any]], Any] = lambda request: None
        self.lock = threading.Lock()

    def __call__(self, request: dict[str, Any]) -> Any:
        if request["op"] == "hello":
            return self.hello
        self.intercept(request)
        with self.lock:
            if "seq" in request:
                key = (request["clientId"], request["seq"])
                if key not in self.sessions:
                    self.sessions[key] = self.apply(request)
                return self.sessions[key]
            return self.read(request)

    def apply(self, request: dict[str, Any]) -> Any:
        if request["op"] == "enqueue":
            ids = []
            for spec in request["jobs"]:
                job_id = spec.get("id") or f"j{len(self.jobs) + 1}"
                self.jobs[job_id] = spec
                ids.append(job_id)
            return {"ids": ids, "duplicate": [False] * len(ids)}
        return {"paused": request["op"] == "pause"}

    def read(self, request: dict[str, Any]) -> Any:
        return {"job": None}


class Fixture(unittest.TestCase):
    def setUp(self) -> None:
        self.cleanups: list[Any] = []

    def tearDown(self) -> None:
        for cleanup in reversed(self.cleanups):
            cleanup()

    def node(self, respond: Any) -> FakeNode:
        fake = FakeNode(respond)
        self.cleanups.append(fake.close)
        return fake

    def client(self, nodes: list[str], **options: Any) -> Client:
        client = Client(nodes, retry=options.pop("retry", FAST), **options)
        self.cleanups.append(client.close)
        return client


class SessionTest(Fixture):
    def test_numbers_mutating_requests_with_consecutive_seqs_and_leaves_reads_without_one(self) -> None:
        broker = Broker()
        fake = self.node(broker)
        client = self.client([fake.address])
        client.submit("q", 1)
        client.get_job("j1")
        client.pause("q")
        self.assertEqual(fake.ops(), ["hello", "enqueue", "get", "pause"])
        hello, enqueue, get, pause = fake.requests
        self.assertEqual(hello["clientId"], client.client_id)
        self.assertEqual([(r["clientId"], r["seq"], r["seqFloor"]) for r in (enqueue, pause)], [(client.client_id, 1, 1), (client.client_id, 2, 2)])
        self.assertNotIn("seq", get)
        self.assertNotIn("clientId", get)

    def test_the_window_holds_a_new_seq_back_while_the_oldest_outstanding_one_would_fall_out(self) -> None:
        window = SessionWindow(3)
        self.assertEqual([window.acquire(), window.acquire(), window.acquire()], [1, 2, 3])
        window.release(2)
        window.release(3)
        with self.assertRaises(TimeoutError):
            window.acquire(timeout_s=0.05)  # seq 1 still outstanding: 4 - 1 is not within 3
        self.assertEqual(window.floor, 1)
        window.release(1)
        self.assertEqual(window.acquire(timeout_s=1), 4)
        window.close()
        with self.assertRaises(InternalError):
            window.acquire()


class RetryTest(Fixture):
    def test_retries_with_the_same_seq_after_the_connection_drops_so_the_enqueue_applies_once(self) -> None:
        broker = Broker()
        drops = [1]

        def drop_first(request: dict[str, Any]) -> None:
            if request["op"] == "enqueue" and drops:
                drops.pop()
                broker.apply(request)  # applied, but the answer is lost with the connection
                raise Drop()

        broker.intercept = drop_first
        fake = self.node(broker)
        job_id = self.client([fake.address]).submit("q", "once", job_id="only")
        self.assertEqual(job_id, "only")
        enqueues = fake.of_op("enqueue")
        self.assertEqual([r["seq"] for r in enqueues], [1, 1])
        self.assertEqual(fake.connections_accepted, 2)

    def test_fails_over_to_the_next_node_when_the_first_is_down(self) -> None:
        fake = self.node(Broker())
        self.assertEqual(self.client([dead_address(), fake.address]).submit("q", 1), "j1")

    def test_retries_no_leader_with_the_same_seq_until_a_leader_answers(self) -> None:
        broker = Broker()
        answers = ["NO_LEADER", "NO_LEADER"]

        def no_leader_twice(request: dict[str, Any]) -> None:
            if answers:
                raise WireError(answers.pop(), "election under way", retryable=True)

        broker.intercept = no_leader_twice
        fake = self.node(broker)
        self.client([fake.address]).submit("q", 1)
        self.assertEqual([r["seq"] for r in fake.of_op("enqueue")], [1, 1, 1])

    def test_follows_a_no_leader_hint_to_the_leader_when_the_leader_is_in_its_list(self) -> None:
        leader = self.node(Broker())
        follower_broker = Broker()

        def redirect(request: dict[str, Any]) -> None:
            raise WireError("NO_LEADER", "not me", retryable=True, leader="n2")

        follower_broker.intercept = redirect
        follower_broker.hello = {"nodeId": "n1", "leader": None, "nodes": [{"id": "n2", "clientAddr": leader.address}]}
        follower = self.node(follower_broker)
        third = self.node(Broker())
        self.client([follower.address, third.address, leader.address]).submit("q", 1)
        self.assertEqual(len(follower.of_op("enqueue")), 1)
        self.assertEqual(third.ops(), [])  # the hint, not the next node in the list
        self.assertEqual(len(leader.of_op("enqueue")), 1)

    def test_moves_to_the_leader_that_hello_names_when_the_leader_is_listed(self) -> None:
        # The first submit goes on the connection that said hello; the rest go to the leader.
        self.assertEqual(self.enqueues_at_follower_and_leader(hello_leader="n2", leader_hint=None), (1, 2))

    def test_stays_on_a_follower_whose_leader_is_not_in_its_list(self) -> None:
        follower = self.node(Broker(leader="n9", nodes=[{"id": "n9", "clientAddr": "10.0.0.9:7001"}]))
        client = self.client([follower.address])
        client.submit("q", 1)
        client.submit("q", 2)
        self.assertEqual(len(follower.of_op("enqueue")), 2)

    def test_moves_to_the_leader_a_follower_names_in_its_answers_when_the_leader_is_listed(self) -> None:
        # Its hello came before the election; the first answer names the leader.
        self.assertEqual(self.enqueues_at_follower_and_leader(hello_leader=None, leader_hint="n2"), (1, 2))
        self.assertEqual(self.enqueues_at_follower_and_leader(hello_leader=None, leader_hint=None), (3, 0))

    def enqueues_at_follower_and_leader(self, hello_leader: str | None, leader_hint: str | None) -> tuple[int, int]:
        """Three submits through a follower whose hello names ``hello_leader`` and whose answers
        name ``leader_hint``, the leader n2 listed after it: the enqueues each of the two got."""
        leader = self.node(Broker())
        follower_broker = Broker(leader=hello_leader)
        follower = self.node(follower_broker)
        follower_broker.hello["nodes"] = [{"id": "n1", "clientAddr": follower.address}, {"id": "n2", "clientAddr": leader.address}]
        follower.leader_hint = leader_hint
        client = self.client([follower.address, leader.address])
        for n in range(3):
            client.submit("q", n)
        return len(follower.of_op("enqueue")), len(leader.of_op("enqueue"))

    def test_ignores_a_leader_named_in_answers_that_is_not_in_its_list(self) -> None:
        follower = self.node(Broker(nodes=[{"id": "n9", "clientAddr": "10.0.0.9:7001"}]))
        follower.leader_hint = "n9"
        client = self.client([follower.address])
        client.submit("q", 1)
        client.submit("q", 2)
        self.assertEqual(len(follower.of_op("enqueue")), 2)

    def test_does_not_go_back_to_a_named_leader_that_failed_it_in_the_last_5_s(self) -> None:
        self.assertEqual(self.connections_to_a_failing_named_leader(submits=5), 1)

    def test_goes_back_to_a_named_leader_that_failed_once_the_pause_is_over(self) -> None:
        # The control for the test above: without the pause, every submit after the first tries it.
        with mock.patch("raftq.transport.HINT_IGNORED_AFTER_FAILURE_MS", 0):
            self.assertEqual(self.connections_to_a_failing_named_leader(submits=5), 4)

    def connections_to_a_failing_named_leader(self, submits: int) -> int:
        """Submits through a follower that names, in every answer, a listed leader this client
        cannot use; returns how many connections the client opened to that leader."""
        unusable = self.node(drop_everything)
        follower_broker = Broker(nodes=[{"id": "n2", "clientAddr": unusable.address}])
        follower = self.node(follower_broker)
        follower.leader_hint = "n2"
        client = self.client([follower.address, unusable.address])
        for n in range(submits):
            client.submit("q", n)
        self.assertEqual(len(follower.of_op("enqueue")), submits)
        return unusable.connections_accepted

    def test_does_not_retry_an_error_that_is_not_retryable(self) -> None:
        broker = Broker()

        def refuse(request: dict[str, Any]) -> None:
            raise WireError("BAD_REQUEST", "jobs[0].priority: must be in 0..9", field="jobs[0].priority")

        broker.intercept = refuse
        fake = self.node(broker)
        with self.assertRaises(BadRequestError) as caught:
            self.client([fake.address]).submit("q", 1, priority=42)
        self.assertEqual(caught.exception.field, "jobs[0].priority")
        self.assertEqual(len(fake.of_op("enqueue")), 1)

    def test_gives_up_after_the_configured_attempts_with_the_last_retryable_error(self) -> None:
        broker = Broker()
        broker.intercept = always("NO_LEADER", "no quorum")
        fake = self.node(broker)
        with self.assertRaises(NoLeaderError):
            self.client([fake.address], retry=RetryOptions(attempts=3, base_ms=1, cap_ms=2)).submit("q", 1)
        self.assertEqual(len(fake.of_op("enqueue")), 3)

    def test_names_when_it_gives_up_the_last_failure_at_each_node_tried(self) -> None:
        # No quorum behind the live node and the other node down: the last try alone would blame the dead node.
        broker = Broker()
        broker.intercept = always("NO_LEADER", "no leader known")
        fake = self.node(broker)
        dead = dead_address()
        with self.assertRaises(RequestTimeoutError) as caught:
            self.client([fake.address, dead], retry=RetryOptions(attempts=4, base_ms=1, cap_ms=2)).stats("q")
        self.assertRegex(
            caught.exception.message,
            rf"^gave up after 4 tries over \d+\.\d s; last failure at each node: {fake.address}: NO_LEADER no leader known; {dead}: TIMEOUT cannot connect \(",
        )
        self.assertTrue(caught.exception.retryable)

    def test_a_request_with_no_answer_becomes_a_timeout(self) -> None:
        released = threading.Event()
        self.cleanups.append(released.set)
        broker = Broker()
        broker.intercept = lambda request: released.wait()
        fake = self.node(broker)
        client = self.client([fake.address], request_timeout_ms=100, retry=RetryOptions(attempts=1))
        started = time.monotonic()
        with self.assertRaises(RequestTimeoutError) as caught:
            client.submit("q", 1)
        self.assertTrue(caught.exception.retryable)
        self.assertLess(time.monotonic() - started, 5)

    def test_pipelines_requests_from_many_threads_on_one_connection_answered_out_of_order(self) -> None:
        first_may_answer = threading.Event()
        broker = Broker()
        broker.intercept = lambda request: first_may_answer.wait(5) if request["jobs"][0].get("id") == "slow" else None
        fake = self.node(broker)
        client = self.client([fake.address])
        slow: list[str] = []
        thread = threading.Thread(target=lambda: slow.append(client.submit("q", 0, job_id="slow")))
        thread.start()
        self.assertEqual(client.submit("q", 1, job_id="fast"), "fast")  # answered while "slow" waits
        first_may_answer.set()
        thread.join(5)
        self.assertEqual(slow, ["slow"])
        self.assertEqual(fake.connections_accepted, 1)

    def test_calls_after_close_raise_and_close_is_idempotent(self) -> None:
        fake = self.node(Broker())
        client = self.client([fake.address])
        client.close()
        client.close()
        with self.assertRaises(InternalError) as caught:
            client.queues()
        self.assertEqual(str(caught.exception), str(closed_error()))

    def test_refuses_a_node_list_that_is_not_host_port(self) -> None:
        with self.assertRaisesRegex(BadRequestError, "host:port"):
            Transport(["localhost"])
        with self.assertRaisesRegex(BadRequestError, "at least one"):
            Transport([])
        self.assertEqual(Transport("a:1, b:2").nodes, ("a:1", "b:2"))
        with self.assertRaises(BadRequestError):
            Transport(["a:1"], client_id="no spaces")


class ClientTest(Fixture):
    def test_submit_maps_options_onto_the_wire_as_the_typescript_sdk_names_them(self) -> None:
        fake = self.node(Broker())
        client = self.client([fake.address])
        run_at = datetime.now(timezone.utc) + timedelta(minutes=1)
        client.submit(
            "emails", {"to": "a@b.c"}, name="welcome", priority="high", run_at=run_at, max_attempts=5, idempotency_key="k1",
            backoff={"base_ms": 10, "jitter": 0.5}, lease_ms=5_000, job_id="mine",
        )
        client.submit("emails", None, delay_ms=60 * 24 * 3600 * 1000)
        first, second = (request["jobs"][0] for request in fake.of_op("enqueue"))
        self.assertEqual(decode_value(first.pop("payload")), {"to": "a@b.c"})
        self.assertEqual(first, {
            "queue": "emails", "name": "welcome", "id": "mine", "priority": "high", "runAtMs": round(run_at.timestamp() * 1000),
            "maxAttempts": 5, "backoff": {"baseMs": 10, "jitter": 0.5}, "leaseMs": 5_000, "idempotencyKey": "k1",
        })
        self.assertEqual(second, {"queue": "emails", "payload": b"\xc0", "delayMs": 60 * 24 * 3600 * 1000})
        with self.assertRaisesRegex(BadRequestError, "unknown submit option"):
            client.submit("q", 1, priorty=3)

    def test_submit_many_sends_at_most_1000_jobs_a_request_ids_in_order(self) -> None:
        fake = self.node(Broker())
        client = self.client([fake.address])
        ids = client.submit_many("bulk", [JobSpec(i, job_id=f"b{i}") for i in range(2500)])
        self.assertEqual(ids, [f"b{i}" for i in range(2500)])
        self.assertEqual([len(r["jobs"]) for r in fake.of_op("enqueue")], [1000, 1000, 500])
        self.assertEqual(client.submit_many("bulk", []), [])
        client.submit_many("plain", ["a", "b"], priority=3)
        plain = fake.of_op("enqueue")[-1]["jobs"]
        self.assertEqual([(decode_value(j["payload"]), j["priority"]) for j in plain], [("a", 3), ("b", 3)])

    def test_submit_many_says_which_jobs_were_taken_when_a_request_fails(self) -> None:
        broker = Broker()
        requests = []

        def refuse_the_second(request: dict[str, Any]) -> None:
            if request["op"] != "enqueue":
                return
            requests.append(request)
            if len(requests) == 2:
                raise WireError("PAYLOAD_TOO_LARGE", "jobs[3].payload: payload of 2000000 bytes exceeds 1048576", field="jobs[3].payload")

        broker.intercept = refuse_the_second
        fake = self.node(broker)
        with self.assertRaises(PayloadTooLargeError) as caught:
            self.client([fake.address]).submit_many("bulk", [JobSpec(i, job_id=f"b{i}") for i in range(2500)])
        error = caught.exception
        self.assertEqual(error.field, "jobs[1003].payload")
        self.assertEqual(
            error.message,
            "jobs[1003].payload: payload of 2000000 bytes exceeds 1048576 (of 2500 jobs in 3 requests: 1000 taken, 1000 refused, 0 of unknown outcome, 500 not sent)",
        )
        self.assertEqual(error.submitted, SubmitManyOutcome(taken_ids=[f"b{i}" for i in range(1000)], refused=1000, unknown=0, not_sent=500))
        self.assertEqual(len(broker.jobs), 1000)

    def test_submit_many_counts_a_request_whose_retries_ran_out_as_of_unknown_outcome(self) -> None:
        broker = Broker()

        broker.intercept = always("NO_LEADER", "no leader known")
        fake = self.node(broker)
        with self.assertRaises(NoLeaderError) as caught:
            self.client([fake.address], retry=RetryOptions(attempts=2, base_ms=1, cap_ms=2)).submit_many("bulk", [1, 2, 3])
        self.assertEqual(caught.exception.submitted, SubmitManyOutcome(taken_ids=[], refused=0, unknown=3, not_sent=0))

    def test_a_refusal_after_an_unanswered_try_is_of_unknown_outcome(self) -> None:
        broker = Broker()
        tries = []

        def drop_then_refuse(request: dict[str, Any]) -> None:
            if request["op"] != "enqueue":
                return
            tries.append(request)
            if len(tries) == 1:
                raise Drop()
            raise WireError("PAYLOAD_TOO_LARGE", "jobs[0].payload: too big", field="jobs[0].payload")

        broker.intercept = drop_then_refuse
        fake = self.node(broker)
        with self.assertRaises(PayloadTooLargeError) as caught:
            self.client([fake.address]).submit_many("q", [1])
        self.assertTrue(caught.exception.outcome_unknown)
        self.assertEqual(caught.exception.submitted, SubmitManyOutcome(taken_ids=[], refused=0, unknown=1, not_sent=0))

    def test_submit_many_splits_by_bytes_too(self) -> None:
        fake = self.node(Broker())
        client = self.client([fake.address])
        client.submit_many("big", [b"x" * (3 * 1024 * 1024) for _ in range(3)])
        self.assertEqual([len(r["jobs"]) for r in fake.of_op("enqueue")], [2, 1])


if __name__ == "__main__":
    unittest.main()
