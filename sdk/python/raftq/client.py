"""The producer-side SDK: submit jobs, read them, manage queues and the dead-letter queue.

Every method blocks until its answer, and is safe to call from many threads at once: they share
one pipelined connection. Retries, failover and exactly-once sessions live in Transport.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

from .batches import split_batches
from .errors import BadRequestError, InternalError, RaftqError, SubmitManyOutcome, may_have_applied, raftq_error
from .jobs import (
    Backoff,
    CancelOutcome,
    DeadJobs,
    Job,
    JobSpec,
    QueueStats,
    Schedule,
    job_from_wire,
    queue_stats_from_wire,
    run_at_ms,
    schedule_from_wire,
)
from .limits import ENQUEUE_BATCH_MAX, ENQUEUE_REQUEST_BYTES_MAX, SPEC_BYTES_BEYOND_PAYLOAD_MAX, WAIT_RESULT_MS_MAX
from .transport import REQUEST_TIMEOUT_MS_DEFAULT, RetryOptions, Transport
from .values import encode_value

WAIT_FOR_RESULT_TIMEOUT_MS_DEFAULT = 30_000


class Client:
    """``Client(nodes=["127.0.0.1:7001", ...])``; any node will do, followers forward to the leader.

    ``nodes`` may also be one "host:port,host:port" string; absent, RAFTQ_NODES or the local three.
    """

    def __init__(
        self,
        nodes: Sequence[str] | str | None = None,
        *,
        client_id: str | None = None,
        request_timeout_ms: float = REQUEST_TIMEOUT_MS_DEFAULT,
        retry: RetryOptions | None = None,
    ) -> None:
        self._transport = Transport(nodes, client_id=client_id, request_timeout_ms=request_timeout_ms, retry=retry)

    @property
    def client_id(self) -> str:
        """The session id this client's mutating requests carry."""
        return self._transport.client_id

    @property
    def nodes(self) -> tuple[str, ...]:
        return self._transport.nodes

    @property
    def request_timeout_ms(self) -> float:
        return self._transport.request_timeout_ms

    @property
    def retry(self) -> RetryOptions:
        return self._transport.retry

    def submit(self, queue: str, payload: Any = None, **options: Any) -> str:
        """Enqueues one job; returns its id (the existing job's id when it was a duplicate).

        Options are JobSpec's fields: name, job_id, priority (0..9 or "low"/"normal"/"high"),
        delay_ms, run_at, max_attempts, backoff, lease_ms, idempotency_key.
        """
        spec = _spec_of(payload, options)
        ids = self._transport.call("enqueue", {"jobs": [_to_wire(queue, spec)]})["ids"]
        if len(ids) != 1 or not isinstance(ids[0], str):
            raise InternalError(f"enqueue of one job answered {len(ids)} ids")
        return ids[0]

    def submit_many(self, queue: str, jobs: Iterable[JobSpec | Any], **options: Any) -> list[str]:
        """Enqueues many jobs; returns their ids in order.

        Each item is a JobSpec, or a payload submitted with ``options``. Requests hold at most
        1,000 jobs (and half a frame of bytes) each, sent one after another; each applies
        atomically and once. If one fails, the error raised has the failure's code, its ``field``
        counted in the whole list (``jobs[1003].payload``), and ``submitted``: the ids of the jobs
        taken before it, and how many were refused, of unknown outcome, and not sent. Give jobs ids
        or idempotency keys when a whole list must be resubmittable.
        """
        default = _spec_of(None, options)
        specs = [_to_wire(queue, job if isinstance(job, JobSpec) else _replace_payload(default, job)) for job in jobs]
        ids: list[str] = []
        batches = _split_batches(specs)
        for batch in batches:
            try:
                ids.extend(self._transport.call("enqueue", {"jobs": batch})["ids"])
            except RaftqError as failure:
                raise _submit_many_failure(failure, ids, len(batch), len(specs), len(batches)) from failure
        return ids

    def get_job(self, job_id: str, *, stale: bool = False) -> Job | None:
        """The job (payload and result decoded), or None when there is none with this id.

        ``stale`` reads this node's state without a ReadIndex round (it may lag the leader).
        """
        job = self._transport.call("get", {"jobId": job_id, "stale": stale or None})["job"]
        return None if job is None else job_from_wire(job)

    def cancel(self, job_id: str) -> CancelOutcome:
        answer = self._transport.call("cancel", {"jobId": job_id})
        return CancelOutcome(state=answer["state"], cancelled=answer["cancelled"])

    def stats(self, queue: str, *, stale: bool = False) -> QueueStats:
        return queue_stats_from_wire(self._transport.call("stats", {"queue": queue, "stale": stale or None}))

    def queues(self, *, stale: bool = False) -> list[QueueStats]:
        answer = self._transport.call("queues", {"stale": stale or None})
        return [queue_stats_from_wire(stats) for stats in answer["queues"]]

    def pause(self, queue: str) -> None:
        """A paused queue accepts jobs but hands out none."""
        self._transport.call("pause", {"queue": queue})

    def resume(self, queue: str) -> None:
        self._transport.call("resume", {"queue": queue})

    def wait_for_result(self, job_id: str, *, timeout_ms: float = WAIT_FOR_RESULT_TIMEOUT_MS_DEFAULT) -> Job:
        """Waits until the job is completed, dead or cancelled, and returns it; after timeout_ms
        returns it as it is (check ``state``). Longer waits are a series of bounded long polls."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            wait_ms = max(0, min(WAIT_RESULT_MS_MAX, int((deadline - time.monotonic()) * 1000 + 0.999)))
            answer = self._transport.call("waitResult", {"jobId": job_id, "timeoutMs": wait_ms}, long_poll_ms=wait_ms)
            if answer["final"] or time.monotonic() >= deadline:
                return job_from_wire(answer["job"])

    def dlq_list(self, queue: str, *, offset: int | None = None, limit: int | None = None, stale: bool = False) -> DeadJobs:
        """Dead jobs of a queue, oldest first: ``limit`` (1..100, default 20) from ``offset``."""
        answer = self._transport.call("dlqList", {"queue": queue, "offset": offset, "limit": limit, "stale": stale or None})
        return DeadJobs(jobs=[job_from_wire(job) for job in answer["jobs"]], total=int(answer["total"]))

    def dlq_retry(self, queue: str, *, job_ids: Sequence[str] | None = None, max_jobs: int | None = None) -> int:
        """Moves dead jobs back to waiting (these ids, or else the oldest ``max_jobs``); returns how many."""
        fields = {"queue": queue, "jobIds": None if job_ids is None else list(job_ids), "max": max_jobs}
        return int(self._transport.call("dlqRetry", fields)["retried"])

    def dlq_purge(self, queue: str, *, job_ids: Sequence[str] | None = None, max_jobs: int | None = None) -> int:
        fields = {"queue": queue, "jobIds": None if job_ids is None else list(job_ids), "max": max_jobs}
        return int(self._transport.call("dlqPurge", fields)["purged"])

    def set_schedule(
        self,
        queue: str,
        schedule_id: str,
        payload: Any = None,
        *,
        every_ms: int | None = None,
        cron: str | None = None,
        start_at: datetime | int | None = None,
        **job_options: Any,
    ) -> int | None:
        """Creates the schedule, or replaces the one of this id (its history kept); returns when it
        fires next (epoch ms; None when a cron expression names no later time).

        Give exactly one of ``every_ms`` (at least 1,000) and ``cron`` (5 fields, UTC, e.g.
        ``"0 3 * * *"`` or ``"@daily"``). ``job_options`` are those of ``submit`` that a firing can
        reuse: ``name``, ``priority``, ``max_attempts``, ``backoff``, ``lease_ms``.
        """
        job = _to_wire(queue, _spec_of(payload, job_options))
        del job["queue"]
        fields = {"queue": queue, "scheduleId": schedule_id, "everyMs": every_ms, "cron": cron, "job": job}
        if start_at is not None:
            fields["startAtMs"] = run_at_ms(start_at)
        answer = self._transport.call("scheduleSet", fields)
        next_run: int | None = answer["nextRunAtMs"]
        return next_run

    def remove_schedule(self, queue: str, schedule_id: str) -> bool:
        """Removes a schedule (the jobs it enqueued stay); False when there was none."""
        return bool(self._transport.call("scheduleRemove", {"queue": queue, "scheduleId": schedule_id})["removed"])

    def schedules(self, queue: str | None = None, *, stale: bool = False) -> list[Schedule]:
        """Every schedule (of one queue, if given), by (queue, schedule id); their jobs' payloads
        are left out (``get_schedule`` has them)."""
        answer = self._transport.call("schedules", {"queue": queue, "stale": stale or None})
        return [schedule_from_wire(s) for s in answer["schedules"]]

    def get_schedule(self, queue: str, schedule_id: str, *, stale: bool = False) -> Schedule | None:
        """One schedule with its job's payload decoded; None when there is none."""
        answer = self._transport.call("schedule", {"queue": queue, "scheduleId": schedule_id, "stale": stale or None})
        return None if answer["schedule"] is None else schedule_from_wire(answer["schedule"])

    def cluster_status(self) -> dict[str, Any]:
        """The node's view of the cluster: nodeId, leader, term, nodes (as the wire has them)."""
        answer: dict[str, Any] = self._transport.call("clusterStatus", {})
        return answer

    def close(self) -> None:
        """Closes the connections; calls in progress raise. Idempotent."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _spec_of(payload: Any, options: Mapping[str, Any]) -> JobSpec:
    try:
        return JobSpec(payload=payload, **options)
    except TypeError as error:
        raise BadRequestError(f"unknown submit option: {error}") from None


def _replace_payload(spec: JobSpec, payload: Any) -> JobSpec:
    return JobSpec(**{**spec.__dict__, "payload": payload})


def _to_wire(queue: str, job: JobSpec) -> dict[str, Any]:
    """The wire form of one job: only the fields given, as the TypeScript SDK sends them."""
    spec: dict[str, Any] = {"queue": queue, "payload": encode_value(job.payload, "payload")}
    if job.name is not None:
        spec["name"] = job.name
    if job.job_id is not None:
        spec["id"] = job.job_id
    if job.priority is not None:
        spec["priority"] = job.priority
    if job.run_at is not None:
        spec["runAtMs"] = run_at_ms(job.run_at)
    elif job.delay_ms is not None:
        spec["delayMs"] = job.delay_ms
    if job.max_attempts is not None:
        spec["maxAttempts"] = job.max_attempts
    if job.backoff is not None:
        spec["backoff"] = _backoff_of(job.backoff).to_wire()
    if job.lease_ms is not None:
        spec["leaseMs"] = job.lease_ms
    if job.idempotency_key is not None:
        spec["idempotencyKey"] = job.idempotency_key
    return spec


def _backoff_of(backoff: Backoff | Mapping[str, Any]) -> Backoff:
    if isinstance(backoff, Backoff):
        return backoff
    try:
        return Backoff(**backoff)
    except TypeError as error:
        raise BadRequestError(f"backoff takes base_ms, cap_ms and jitter: {error}", field="backoff") from None


def _split_batches(specs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return split_batches(specs, lambda spec: len(spec["payload"]) + SPEC_BYTES_BEYOND_PAYLOAD_MAX, ENQUEUE_BATCH_MAX, ENQUEUE_REQUEST_BYTES_MAX)


def _submit_many_failure(failure: RaftqError, taken_ids: list[str], failed_jobs: int, total: int, requests: int) -> RaftqError:
    """The error of a submit_many whose request of ``failed_jobs`` jobs, after ``taken_ids``, failed."""
    offset = len(taken_ids)
    unknown = failed_jobs if may_have_applied(failure) else 0
    outcome = SubmitManyOutcome(taken_ids=list(taken_ids), refused=failed_jobs - unknown, unknown=unknown, not_sent=total - offset - failed_jobs)
    field = failure.field
    message = failure.message
    at = re.match(r"jobs\[(\d+)\]", field) if field is not None else None
    if field is not None and at is not None:
        shifted = f"jobs[{offset + int(at.group(1))}]" + field[at.end() :]
        message = message.replace(field, shifted)
        field = shifted
    if requests > 1:
        message += (
            f" (of {total} jobs in {requests} requests: {offset} taken, {outcome.refused} refused, "
            f"{outcome.unknown} of unknown outcome, {outcome.not_sent} not sent)"
        )
    error = raftq_error(failure.code, message, retryable=failure.retryable, field=field, leader=failure.leader)
    error.outcome_unknown = failure.outcome_unknown
    error.submitted = outcome
    return error
