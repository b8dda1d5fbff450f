"""The protocol limits the SDK checks or sizes its requests by.

Mirrors ``src/limits.ts`` (README "Limits"); change both together. The node enforces every one of
them; the SDK checks only those it can know for sure (a job's payload limit is a node flag,
``--payload-max-bytes``, so the node alone judges it).
"""

from __future__ import annotations

import re

# One protocol message (the 4-byte length prefix excluded); a longer frame closes the connection.
FRAME_BYTES_MAX = 16 * 1024 * 1024
# Default job payload limit of a node (its msgpack bytes); nodes may be started with another.
PAYLOAD_BYTES_MAX_DEFAULT = 1024 * 1024
# An ack's result (msgpack bytes): fixed by the protocol, not a node flag.
RESULT_BYTES_MAX = 1024 * 1024
ENQUEUE_BATCH_MAX = 1000
LEASE_BATCH_MAX = 1000
ACK_BATCH_MAX = 1000
LEASE_QUEUES_MAX = 32
ERROR_MESSAGE_LENGTH_MAX = 8192
LEASE_MS_MIN = 100
LEASE_MS_MAX = 12 * 60 * 60 * 1000
LEASE_MS_DEFAULT = 30_000
LEASE_WAIT_MS_MAX = 60_000
# A waitResult is a long poll like a lease; longer waits are a series of them.
WAIT_RESULT_MS_MAX = LEASE_WAIT_MS_MAX
# Results the state machine keeps per client session: a seq must never fall further behind.
SESSION_RESULTS_MAX = 1024
# Client ids, worker ids, job ids given by clients.
ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Most bytes of jobs put in one enqueue request: half a frame leaves room for the envelope.
ENQUEUE_REQUEST_BYTES_MAX = FRAME_BYTES_MAX // 2
# An upper bound of what a job's fields other than its payload encode to (queue and id <= 128
# ASCII characters, name and idempotency key <= 256 UTF-16 units of up to 3 UTF-8 bytes, field
# names, a few numbers), so batches are sized without encoding each job twice.
SPEC_BYTES_BEYOND_PAYLOAD_MAX = 2048
# Most bytes of acks in one ackMany request, and a bound of what an ack encodes to beyond its
# result (a job id <= 128 ASCII characters, a lease token <= 512, field names), as for enqueue.
ACK_REQUEST_BYTES_MAX = FRAME_BYTES_MAX // 2
ACK_BYTES_BEYOND_RESULT_MAX = 1024


def is_id(text: str) -> bool:
    return ID_PATTERN.fullmatch(text) is not None
