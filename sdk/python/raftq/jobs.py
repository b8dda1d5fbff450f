"""Jobs as the SDK hands them out: Python names, payload and result decoded, times as int ms.

The node's numbers come from JavaScript, whose msgpack encoder writes integers beyond 32 bits
(every epoch-ms time) as float64; they are made ints again here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Mapping, Union

from .errors import InternalError
from .values import value_or_raw_bytes

JobState = Literal["waiting", "delayed", "active", "completed", "failed", "dead", "cancelled"]
JOB_STATES: tuple[str, ...] = ("waiting", "delayed", "active", "completed", "failed", "dead", "cancelled")
# Named priorities as the node maps them (0 lowest .. 9 highest).
PRIORITY_NAMED: dict[str, int] = {"low": 2, "normal": 5, "high": 8}
Priority = Union[int, Literal["low", "normal", "high"]]


@dataclass(frozen=True)
class Backoff:
    """Exponential retry backoff; a field left None takes the node's default (1 s, 1 h, 0.2)."""

    base_ms: int | None = None
    cap_ms: int | None = None
    # 0..1: the fraction of each delay that is randomized (from a hash of job id and attempt).
    jitter: float | None = None

    def to_wire(self) -> dict[str, Any]:
        wire = {"baseMs": self.base_ms, "capMs": self.cap_ms, "jitter": self.jitter}
        return {key: value for key, value in wire.items() if value is not None}


@dataclass(frozen=True)
class JobSpec:
    """One job for submit_many: its payload and the options submit takes."""

    payload: Any = None
    name: str | None = None
    # Your own id (1..128 of [A-Za-z0-9._:-]): a second submit with it is a duplicate, not a new job.
    job_id: str | None = None
    priority: Priority | None = None
    # Run no sooner than this long after the leader accepts the job.
    delay_ms: int | None = None
    # Run no sooner than this time (a datetime, or epoch ms on the leader's clock); wins over delay_ms.
    run_at: datetime | int | None = None
    max_attempts: int | None = None
    backoff: Backoff | Mapping[str, Any] | None = None
    # Visibility timeout of each lease, unless the worker asks for its own.
    lease_ms: int | None = None
    # Submits with the same key within 10 minutes return the first job's id.
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Lease:
    token: str
    worker_id: str
    expires_at_ms: int


@dataclass(frozen=True)
class Job:
    """A job read back (get_job, wait_for_result, dlq_list)."""

    id: str
    queue: str
    name: str
    payload: Any
    priority: int
    max_attempts: int
    backoff: Backoff
    lease_ms: int
    idempotency_key: str | None
    state: str
    # Attempts started (leases handed out) so far.
    attempts: int
    # Times a lease expired without ack or fail.
    redeliveries: int
    last_error: str | None
    result: Any
    created_at_ms: int
    run_at_ms: int
    started_at_ms: int | None
    finished_at_ms: int | None
    lease: Lease | None
    # Fields a newer node sends that this SDK does not know yet, as they came.
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class QueueStats:
    queue: str
    paused: bool
    # Jobs held per state (every state of JOB_STATES).
    counts: dict[str, int]
    # Since the queue was created: enqueued, completed, failed, retried, dead, expired.
    totals: dict[str, int]


@dataclass(frozen=True)
class CancelOutcome:
    state: str
    # False when the job was already finished (completed, dead, cancelled): nothing changed.
    cancelled: bool


@dataclass(frozen=True)
class FailOutcome:
    # "failed" (it will be retried at retry_at_ms) or "dead" (in the dead-letter queue).
    state: str
    retry_at_ms: int | None


@dataclass(frozen=True)
class DeadJobs:
    jobs: list[Job]
    # Every dead job of the queue, beyond this page too.
    total: int


@dataclass(frozen=True)
class Schedule:
    """A repeatable job: it enqueues ``job`` every ``every_ms``, or at the minutes of ``cron`` (UTC)."""

    queue: str
    schedule_id: str
    every_ms: int | None
    cron: str | None
    # The job each firing enqueues, as the wire has it: its payload decoded by get_schedule, left
    # out of listings (payload_bytes says how long it is).
    job: dict[str, Any]
    payload_bytes: int
    next_run_at_ms: int | None
    last_run_at_ms: int | None
    last_job_id: str | None
    runs: int
    # Firings the full cluster refused: nothing was enqueued for them.
    refused: int
    created_at_ms: int
    updated_at_ms: int


def schedule_from_wire(wire: Mapping[str, Any]) -> Schedule:
    try:
        job = dict(wire["job"])
        payload_bytes = wire.get("payloadBytes")
        if job.get("payload") is not None:
            payload_bytes = len(job["payload"])
            job["payload"] = value_or_raw_bytes(job["payload"], "payload")
        return Schedule(
            queue=wire["queue"],
            schedule_id=wire["scheduleId"],
            every_ms=wire["everyMs"],
            cron=wire["cron"],
            job=job,
            payload_bytes=ms(payload_bytes or 0),
            next_run_at_ms=wire["nextRunAtMs"],
            last_run_at_ms=wire["lastRunAtMs"],
            last_job_id=wire["lastJobId"],
            runs=ms(wire["runs"]),
            refused=ms(wire["refused"]),
            created_at_ms=ms(wire["createdAtMs"]),
            updated_at_ms=ms(wire["updatedAtMs"]),
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise InternalError(f"malformed schedule on the wire: {error!r}") from error


def ms(value: Any) -> int:
    """An integral number of the wire (maybe a float64, see module doc) as an int."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InternalError(f"expected a number on the wire, got {type(value).__name__}")
    return int(value)


def ms_or_none(value: Any) -> int | None:
    return None if value is None else ms(value)


def run_at_ms(run_at: datetime | int) -> int:
    """Epoch ms of a datetime (naive ones are local time, as datetime.timestamp() reads them) or of ms."""
    if isinstance(run_at, datetime):
        return round(run_at.timestamp() * 1000)
    return run_at


_JOB_FIELDS = frozenset(
    {
        "id", "queue", "name", "payload", "priority", "maxAttempts", "backoff", "leaseMs", "idempotencyKey", "state",
        "attempts", "redeliveries", "lastError", "result", "createdAtMs", "runAtMs", "startedAtMs", "finishedAtMs", "lease",
    }
)


def job_from_wire(wire: Mapping[str, Any]) -> Job:
    try:
        backoff = wire["backoff"] or {}
        lease = wire.get("lease")
        return Job(
            id=wire["id"],
            queue=wire["queue"],
            name=wire["name"],
            payload=value_or_raw_bytes(wire.get("payload"), "payload"),
            priority=ms(wire["priority"]),
            max_attempts=ms(wire["maxAttempts"]),
            backoff=Backoff(base_ms=ms_or_none(backoff.get("baseMs")), cap_ms=ms_or_none(backoff.get("capMs")), jitter=backoff.get("jitter")),
            lease_ms=ms(wire["leaseMs"]),
            idempotency_key=wire.get("idempotencyKey"),
            state=wire["state"],
            attempts=ms(wire["attempts"]),
            redeliveries=ms(wire["redeliveries"]),
            last_error=wire.get("lastError"),
            result=value_or_raw_bytes(wire.get("result"), "result"),
            created_at_ms=ms(wire["createdAtMs"]),
            run_at_ms=ms(wire["runAtMs"]),
            started_at_ms=ms_or_none(wire.get("startedAtMs")),
            finished_at_ms=ms_or_none(wire.get("finishedAtMs")),
            lease=None if lease is None else Lease(token=lease["token"], worker_id=lease["workerId"], expires_at_ms=ms(lease["expiresAtMs"])),
            extra={key: value for key, value in wire.items() if key not in _JOB_FIELDS},
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise InternalError(f"malformed job on the wire: {error!r}") from error


def queue_stats_from_wire(wire: Mapping[str, Any]) -> QueueStats:
    try:
        return QueueStats(
            queue=wire["queue"],
            paused=bool(wire["paused"]),
            counts={state: ms(count) for state, count in wire["counts"].items()},
            totals={name: ms(total) for name, total in wire["totals"].items()},
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise InternalError(f"malformed queue stats on the wire: {error!r}") from error
