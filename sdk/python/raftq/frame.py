"""Framing of the client wire: a 4-byte big-endian body length, then one msgpack map.

Every numeric field a node validates is a JavaScript number, exact up to 2**53: integers beyond
32 bits (a ``runAtMs`` of today, a delay of two months) travel as float64, as the TypeScript SDK's
encoder sends them (a node also reads a msgpack int64 as a number while it is that small), and
larger ones are refused here. Payload and result bytes are ``bin`` and untouched.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from .errors import BadRequestError, PayloadTooLargeError, RaftqError
from .limits import FRAME_BYTES_MAX

HEADER_BYTES = 4
_HEADER = struct.Struct(">I")

# Integers msgpackr decodes as a number (its int8..int32 and uint8..uint32 encodings).
_INT32_MIN = -(2**31)
_UINT32_MAX = 2**32 - 1
# Beyond this a float64 no longer holds every integer, and the node would read another number.
_SAFE_INTEGER_MAX = 2**53 - 1

# msgpackr writes JavaScript's `undefined` as fixext 1 of type 0 holding 0; it means "absent".
_JS_UNDEFINED_EXT_TYPE = 0
_JS_UNDEFINED_DATA = b"\x00"


class FrameError(Exception):
    """The stream is unusable (bad length, undecodable body): the connection must close."""


def wire_safe(value: Any, path: str = "request") -> Any:
    """``value`` with every integer outside 32 bits as an exactly equal float (see module doc)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if _INT32_MIN <= value <= _UINT32_MAX:
            return value
        if abs(value) > _SAFE_INTEGER_MAX:
            raise BadRequestError(f"{path}: {value} is beyond what the protocol's numbers hold exactly (2**53 - 1)", field=path)
        return float(value)
    if isinstance(value, dict):
        return {key: wire_safe(item, f"{path}.{key}" if path else str(key)) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire_safe(item, f"{path}[{index}]") for index, item in enumerate(value)]
    return value


def ext_hook(code: int, data: bytes) -> Any:
    if code == _JS_UNDEFINED_EXT_TYPE and data == _JS_UNDEFINED_DATA:
        return None
    return msgpack.ExtType(code, data)


def unpack(data: bytes) -> Any:
    """Exactly one msgpack value (strings as str, bin as bytes); raises on anything else."""
    return msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=ext_hook)


def encode_frame(body: dict[str, Any], frame_bytes_max: int = FRAME_BYTES_MAX) -> bytes:
    """Header and body of one request, or a RaftqError saying why it cannot be sent."""
    try:
        encoded: bytes = msgpack.packb(wire_safe(body, ""), use_bin_type=True)
    except RaftqError:
        raise
    except (TypeError, ValueError, OverflowError) as error:
        raise BadRequestError(f"request not sent: cannot be encoded as msgpack: {error}") from error
    if len(encoded) > frame_bytes_max:
        raise PayloadTooLargeError(f"request not sent: frame body of {len(encoded)} bytes exceeds {frame_bytes_max}")
    return _HEADER.pack(len(encoded)) + encoded


class FrameDecoder:
    """Incremental: bytes in as they arrive, complete bodies out. Poisoned after a FrameError."""

    def __init__(self, frame_bytes_max: int = FRAME_BYTES_MAX) -> None:
        self._frame_bytes_max = frame_bytes_max
        self._buffer = bytearray()
        self._failed: FrameError | None = None

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[Any]:
        if self._failed is not None:
            raise self._failed
        self._buffer += chunk
        bodies: list[Any] = []
        offset = 0
        while len(self._buffer) - offset >= HEADER_BYTES:
            (body_bytes,) = _HEADER.unpack_from(self._buffer, offset)
            if body_bytes == 0:
                self._fail("frame length 0")
            if body_bytes > self._frame_bytes_max:
                self._fail(f"frame length {body_bytes} exceeds {self._frame_bytes_max}")
            end = offset + HEADER_BYTES + body_bytes
            if len(self._buffer) < end:
                break
            body = bytes(self._buffer[offset + HEADER_BYTES : end])
            try:
                bodies.append(unpack(body))
            except Exception as error:  # any decode failure poisons the stream alike
                self._fail(f"undecodable frame body: {error}")
            offset = end
        # One cut per chunk, not one per frame: pipelined answers arrive many to a read.
        del self._buffer[:offset]
        return bodies

    def _fail(self, reason: str) -> None:
        self._failed = FrameError(reason)
        self._buffer = bytearray()
        raise self._failed
