"""The Python side of test/python/python-sdk.test.ts: a producer and a worker of the Python SDK
against a real cluster, through the nodes named on the command line (a follower in the test).

Submits jobs (one by one, in a batch, by idempotency key), processes them and the jobs the
TypeScript side submitted with a worker that leases ahead (prefetch) and acks in groups (ackMany),
takes one job through retries to success and one to the dead-letter queue, and prints one JSON
line with what it saw; the test checks it against the cluster.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from raftq import Backoff, Client, JobSpec, RetryOptions, Worker, WorkerJob
from raftq.transport import Transport

QUEUE = "py-e2e"
RETRY_QUEUE = "py-retry"
LATER_QUEUE = "py-later"
JOBS_ONE_BY_ONE = 10
JOBS_IN_A_BATCH = 30
WAIT_MS = 20_000
CONCURRENCY = 4
PREFETCH = 16


class RequestLog:
    """What a worker asked the cluster: its requests by op, and the most jobs one lease asked for.
    Wraps the worker's transport (white box: the SDK has no hook for this, nor needs one)."""

    def __init__(self, transport: Transport) -> None:
        self.ops: Counter[str] = Counter()
        self.lease_max_most = 0
        self._lock = threading.Lock()
        self._call = transport.call
        transport.call = self._record  # type: ignore[method-assign]

    def _record(self, op: str, fields: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.ops[op] += 1
            if op == "lease":
                self.lease_max_most = max(self.lease_max_most, fields["max"])
        return self._call(op, fields, *args, **kwargs)


def handler(job: WorkerJob) -> Any:
    if job.queue == RETRY_QUEUE:
        if job.id == "flaky" and job.attempt < 3:
            raise ValueError(f"flaky attempt {job.attempt}")
        if job.id == "doomed":
            raise RuntimeError(f"doomed attempt {job.attempt}")
        return {"recovered": job.attempt}
    return {"double": job.payload["n"] * 2, "by": "python"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", required=True, help="comma-separated host:port list")
    parser.add_argument("--ts-jobs", default="", help="ids of jobs the TypeScript side submitted to the queue")
    args = parser.parse_args()
    retry = RetryOptions(attempts=40, base_ms=25, cap_ms=500)
    client = Client(args.nodes, retry=retry, request_timeout_ms=4_000)

    ids = [client.submit(QUEUE, {"n": n}, priority="high" if n % 2 else 3) for n in range(JOBS_ONE_BY_ONE)]
    ids += client.submit_many(QUEUE, [{"n": n} for n in range(JOBS_ONE_BY_ONE, JOBS_ONE_BY_ONE + JOBS_IN_A_BATCH)])
    keyed = [client.submit(QUEUE, {"n": 1000}, idempotency_key="py-key") for _ in range(2)]
    fast_backoff = Backoff(base_ms=10, cap_ms=50, jitter=0)
    client.submit_many(RETRY_QUEUE, [
        JobSpec(None, job_id="flaky", max_attempts=3, backoff=fast_backoff),
        JobSpec(None, job_id="doomed", max_attempts=2, backoff=fast_backoff),
    ])

    # A time of tomorrow in epoch ms is beyond 32 bits: it must reach the node as a number it reads.
    run_at = datetime.now(timezone.utc) + timedelta(days=1)
    later = client.submit(LATER_QUEUE, "tomorrow", run_at=run_at)
    later_job = client.get_job(later)
    client.pause(LATER_QUEUE)
    paused = client.stats(LATER_QUEUE).paused
    client.resume(LATER_QUEUE)
    later_report = {
        "state": later_job.state if later_job else None,
        "runAtMsOff": (later_job.run_at_ms if later_job else 0) - round(run_at.timestamp() * 1000),
        "paused": [paused, client.stats(LATER_QUEUE).paused],
        "cancel": client.cancel(later).__dict__,
        "missing": client.get_job("no-such-job"),
    }

    # A schedule, set, listed and removed: it fires tomorrow at 03:00 UTC, never during the test.
    next_run = client.set_schedule(LATER_QUEUE, "nightly", {"report": "daily"}, cron="0 3 * * *", priority="high", max_attempts=2)
    listed = client.schedules(LATER_QUEUE)
    one = client.get_schedule(LATER_QUEUE, "nightly")
    schedule_report = {
        "nextRunIsThreeUtc": next_run is not None and datetime.fromtimestamp(next_run / 1000, timezone.utc).strftime("%H:%M") == "03:00",
        "listed": [[s.schedule_id, s.cron, s.every_ms, s.job, s.payload_bytes, s.runs] for s in listed],
        "one": None if one is None else [one.job, one.payload_bytes],
        "missing": client.get_schedule(LATER_QUEUE, "no-such-schedule"),
        "removed": [client.remove_schedule(LATER_QUEUE, "nightly"), client.remove_schedule(LATER_QUEUE, "nightly")],
        "left": len(client.schedules()),
    }

    acks: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    lock = threading.Lock()

    def completed(job: WorkerJob, result: Any) -> None:
        with lock:
            acks[job.id] += 1

    def failed(job: WorkerJob, error: BaseException, outcome: Any) -> None:
        with lock:
            failures.append({"id": job.id, "attempt": job.attempt, "error": str(error), "state": outcome.state})

    worker_errors: list[str] = []
    worker = Worker(
        client, [QUEUE, RETRY_QUEUE], handler, concurrency=CONCURRENCY, prefetch=PREFETCH, lease_ms=5_000, poll_wait_ms=500,
        shutdown_grace_ms=2_000, on_completed=completed, on_failed=failed, on_error=lambda error: worker_errors.append(str(error)),
    )
    requests = RequestLog(worker._transport)
    ts_ids = [job_id for job_id in args.ts_jobs.split(",") if job_id]
    with worker:
        finals = {job_id: client.wait_for_result(job_id, timeout_ms=WAIT_MS) for job_id in [*ids, keyed[0], *ts_ids, "flaky", "doomed"]}
    # The node that answered: the test checks it is the follower, not the leader.
    status = client.cluster_status()
    client.close()
    print(json.dumps({
        "ids": ids,
        "later": later_report,
        "schedule": schedule_report,
        "keyed": keyed,
        "answeredBy": status["nodeId"],
        "leader": status["leader"],
        "acks": dict(acks),
        "failures": failures,
        "workerErrors": worker_errors,
        "workerRequests": dict(requests.ops),
        "leaseMaxMost": requests.lease_max_most,
        "states": {job_id: job.state for job_id, job in finals.items()},
        "results": {job_id: job.result for job_id, job in finals.items()},
        "attempts": {job_id: job.attempts for job_id, job in finals.items()},
    }))


if __name__ == "__main__":
    try:
        main()
    except Exception as error:
        print(f"scenario failed: {type(error).__name__}: {error}", file=sys.stderr)
        raise
