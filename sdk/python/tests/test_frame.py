import struct
import unittest

import msgpack

from raftq.errors import BadRequestError, PayloadTooLargeError
from raftq.frame import FrameDecoder, FrameError, encode_frame, wire_safe


def frame(body: object) -> bytes:
    encoded: bytes = msgpack.packb(body, use_bin_type=True)
    return struct.pack(">I", len(encoded)) + encoded


class EncodeFrameTest(unittest.TestCase):
    def test_a_frame_is_a_big_endian_length_then_one_msgpack_map(self) -> None:
        data = encode_frame({"id": 7, "op": "get", "jobId": "a"})
        (length,) = struct.unpack(">I", data[:4])
        self.assertEqual(length, len(data) - 4)
        self.assertEqual(msgpack.unpackb(data[4:]), {"id": 7, "op": "get", "jobId": "a"})

    def test_payload_bytes_travel_as_bin_and_text_as_str(self) -> None:
        data = encode_frame({"payload": b"\x81\xa1a\x01", "queue": "q"})
        # bin 8 header (0xc4) for bytes; fixstr for the queue name.
        self.assertIn(b"\xc4\x04\x81\xa1a\x01", data)
        self.assertEqual(msgpack.unpackb(data[4:], raw=False), {"payload": b"\x81\xa1a\x01", "queue": "q"})

    def test_integers_beyond_32_bits_travel_as_exact_float64_because_the_node_reads_int64_as_bigint(self) -> None:
        run_at_ms = 1_732_345_678_901
        data = encode_frame({"jobs": [{"runAtMs": run_at_ms, "priority": 8, "negative": -5}]})
        self.assertIn(b"\xcb", data)  # float64
        self.assertNotIn(b"\xcf", data)  # never uint64
        decoded = msgpack.unpackb(data[4:])
        self.assertEqual(decoded["jobs"][0]["runAtMs"], float(run_at_ms))
        self.assertIsInstance(decoded["jobs"][0]["priority"], int)

    def test_wire_safe_keeps_32_bit_integers_and_booleans_as_they_are(self) -> None:
        self.assertEqual(wire_safe([2**32 - 1, -(2**31), True, None, 0.5]), [2**32 - 1, -(2**31), True, None, 0.5])
        self.assertIsInstance(wire_safe(2**32), float)
        self.assertIsInstance(wire_safe(-(2**31) - 1), float)

    def test_an_integer_no_float64_holds_exactly_is_refused_with_its_path(self) -> None:
        with self.assertRaises(BadRequestError) as caught:
            encode_frame({"jobs": [{"delayMs": 2**60}]})
        self.assertEqual(caught.exception.field, "jobs[0].delayMs")

    def test_a_frame_over_the_limit_is_not_sent(self) -> None:
        with self.assertRaises(PayloadTooLargeError) as caught:
            encode_frame({"payload": b"x" * 100}, frame_bytes_max=64)
        self.assertIn("exceeds 64", str(caught.exception))

    def test_a_value_msgpack_cannot_carry_is_a_bad_request(self) -> None:
        with self.assertRaises(BadRequestError):
            encode_frame({"x": object()})


class FrameDecoderTest(unittest.TestCase):
    def test_reassembles_frames_split_anywhere_and_returns_several_from_one_chunk(self) -> None:
        stream = frame({"id": 1, "ok": True}) + frame({"id": 2, "ok": False}) + frame({"id": 3, "ok": True, "result": b"\x01"})
        decoder = FrameDecoder()
        bodies = []
        for i in range(0, len(stream), 3):
            bodies += decoder.feed(stream[i : i + 3])
        self.assertEqual([body["id"] for body in bodies], [1, 2, 3])
        self.assertEqual(bodies[2]["result"], b"\x01")
        self.assertEqual(decoder.pending_bytes, 0)
        self.assertEqual(len(FrameDecoder().feed(stream)), 3)

    def test_a_zero_or_oversized_length_poisons_the_stream(self) -> None:
        decoder = FrameDecoder()
        with self.assertRaises(FrameError):
            decoder.feed(b"\x00\x00\x00\x00")
        with self.assertRaises(FrameError):
            decoder.feed(frame({"id": 1}))  # poisoned: the connection must close
        with self.assertRaisesRegex(FrameError, "exceeds 10"):
            FrameDecoder(frame_bytes_max=10).feed(frame({"id": 1, "result": "x" * 20}))

    def test_an_undecodable_body_is_a_frame_error(self) -> None:
        with self.assertRaisesRegex(FrameError, "undecodable"):
            FrameDecoder().feed(b"\x00\x00\x00\x01\xc1")  # 0xc1 is never used in msgpack

    def test_javascript_undefined_from_msgpackr_reads_as_none(self) -> None:
        # msgpackr encodes `undefined` as fixext 1, type 0, data 0.
        body = b"\x82\xa2id\x01\xa1x\xd4\x00\x00"
        self.assertEqual(FrameDecoder().feed(struct.pack(">I", len(body)) + body), [{"id": 1, "x": None}])


if __name__ == "__main__":
    unittest.main()
