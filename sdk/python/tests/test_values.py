import unittest

from raftq.address import parse_host_port
from raftq.errors import (
    ERROR_CLASSES,
    ERROR_CODES,
    BadRequestError,
    InternalError,
    NoLeaderError,
    RaftqError,
    StaleLeaseError,
    error_from_wire,
)
from raftq.jobs import job_from_wire, queue_stats_from_wire
from raftq.values import decode_value, encode_value, value_or_raw_bytes
from raftq.worker import truncate_utf16


class ValuesTest(unittest.TestCase):
    def test_values_round_trip_through_their_msgpack_bytes(self) -> None:
        for value in [None, 1, -3, 2**40, 1.5, "text", b"raw", [1, "a"], {"to": "ada", "n": [1, 2]}]:
            self.assertEqual(decode_value(encode_value(value)), value)

    def test_a_value_msgpack_cannot_encode_is_a_bad_request_naming_the_field(self) -> None:
        with self.assertRaises(BadRequestError) as caught:
            encode_value({1, 2}, "result")
        self.assertEqual(caught.exception.field, "result")

    def test_bytes_that_are_not_one_msgpack_value_are_refused_or_read_back_raw(self) -> None:
        for garbage in [b"\xc1", b"\x01\x02"]:  # a reserved byte; two values
            with self.assertRaises(BadRequestError):
                decode_value(garbage)
            self.assertEqual(value_or_raw_bytes(garbage, "payload"), garbage)
        self.assertIsNone(value_or_raw_bytes(None, "result"))


class ErrorsTest(unittest.TestCase):
    def test_every_code_maps_to_its_own_class_with_the_node_retryable_flag(self) -> None:
        for code in ERROR_CODES:
            error = error_from_wire({"code": code, "message": "m", "retryable": code in ("NO_LEADER", "TIMEOUT")})
            self.assertIs(type(error), ERROR_CLASSES[code])
            self.assertIsInstance(error, RaftqError)
            self.assertEqual(error.code, code)
            self.assertEqual(error.message, "m")

    def test_field_and_leader_hint_are_kept(self) -> None:
        error = error_from_wire({"code": "BAD_REQUEST", "message": "jobs[2].priority: must be in 0..9", "retryable": False, "field": "jobs[2].priority"})
        self.assertIsInstance(error, BadRequestError)
        self.assertEqual(error.field, "jobs[2].priority")
        self.assertFalse(error.retryable)
        hint = error_from_wire({"code": "NO_LEADER", "message": "no leader", "retryable": True, "leader": "127.0.0.1:7002"})
        self.assertIsInstance(hint, NoLeaderError)
        self.assertEqual(hint.leader, "127.0.0.1:7002")
        self.assertTrue(hint.retryable)
        self.assertEqual(str(hint), "NO_LEADER: no leader")

    def test_an_unknown_code_or_shape_is_internal(self) -> None:
        self.assertIsInstance(error_from_wire({"code": "NEW_CODE", "message": "x"}), InternalError)
        self.assertIsInstance(error_from_wire("boom"), InternalError)
        self.assertEqual(StaleLeaseError("x").code, "STALE_LEASE")


class AddressTest(unittest.TestCase):
    def test_host_port_and_bracketed_ipv6_parse_and_the_rest_does_not(self) -> None:
        self.assertEqual(parse_host_port("127.0.0.1:7001"), ("127.0.0.1", 7001))
        self.assertEqual(parse_host_port("node-1.local:80"), ("node-1.local", 80))
        self.assertEqual(parse_host_port("[::1]:7001"), ("::1", 7001))
        for bad in ["localhost", ":7001", "host:0", "host:65536", "host:x", "a b:1", "[zz]:1", ""]:
            self.assertIsNone(parse_host_port(bad), bad)


class JobsTest(unittest.TestCase):
    def test_a_wire_job_reads_with_python_names_decoded_values_and_int_times(self) -> None:
        wire = {
            "id": "j1", "queue": "q", "name": "default", "payload": encode_value({"a": 1}), "priority": 5, "maxAttempts": 3,
            "backoff": {"baseMs": 1000, "capMs": 3600000.0, "jitter": 0.2}, "leaseMs": 30000, "idempotencyKey": None,
            "state": "active", "attempts": 1, "redeliveries": 0, "lastError": None, "result": None,
            "createdAtMs": 1732345678901.0, "runAtMs": 1732345678901.0, "startedAtMs": 1732345678950.0, "finishedAtMs": None,
            "lease": {"token": "j1:1:9", "workerId": "w", "expiresAtMs": 1732345708950.0}, "futureField": 1,
        }
        job = job_from_wire(wire)
        self.assertEqual(job.payload, {"a": 1})
        self.assertEqual(job.created_at_ms, 1732345678901)
        self.assertIsInstance(job.created_at_ms, int)
        self.assertEqual(job.lease.expires_at_ms if job.lease else None, 1732345708950)
        self.assertEqual(job.backoff.cap_ms, 3600000)
        self.assertEqual(job.extra, {"futureField": 1})
        with self.assertRaises(InternalError):
            job_from_wire({"id": "j1"})

    def test_queue_stats_read_counts_and_totals(self) -> None:
        stats = queue_stats_from_wire({"queue": "q", "paused": False, "counts": {"waiting": 2.0}, "totals": {"enqueued": 3}})
        self.assertEqual((stats.counts, stats.totals), ({"waiting": 2}, {"enqueued": 3}))


class TruncateTest(unittest.TestCase):
    def test_error_messages_are_cut_in_utf16_units_as_the_node_counts_them(self) -> None:
        self.assertEqual(truncate_utf16("abc", 2), "ab")
        # An emoji is two UTF-16 units: it does not fit in one, and is never cut in half.
        self.assertEqual(truncate_utf16("a\U0001F600", 2), "a")
        self.assertEqual(truncate_utf16("a\U0001F600", 3), "a\U0001F600")
        self.assertEqual(truncate_utf16("x\ud800y", 10), "x?y")


if __name__ == "__main__":
    unittest.main()
