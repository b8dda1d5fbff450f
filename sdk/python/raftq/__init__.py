"""raftq's Python SDK: a Client to submit and read jobs, a Worker to process them.

Speaks the node's TCP protocol (see the repository README, "Wire protocol") with the same
sessions, retries and failover as the TypeScript SDK.
"""

from .client import Client
from .errors import (
    ERROR_CODES,
    RETRYABLE_CODES,
    BadRequestError,
    ForbiddenError,
    InternalError,
    NoLeaderError,
    NotFoundError,
    OverloadedError,
    PayloadTooLargeError,
    QueuePausedError,
    RaftqError,
    RateLimitedError,
    RequestTimeoutError,
    StaleLeaseError,
    SubmitManyOutcome,
    UnauthorizedError,
)
from .jobs import JOB_STATES, PRIORITY_NAMED, Backoff, CancelOutcome, DeadJobs, FailOutcome, Job, JobSpec, Lease, QueueStats, Schedule
from .transport import RetryOptions
from .worker import PermanentError, Worker, WorkerJob

__version__ = "0.1.0"

__all__ = [
    "ERROR_CODES",
    "JOB_STATES",
    "PRIORITY_NAMED",
    "RETRYABLE_CODES",
    "BadRequestError",
    "Backoff",
    "CancelOutcome",
    "Client",
    "DeadJobs",
    "FailOutcome",
    "ForbiddenError",
    "InternalError",
    "Job",
    "JobSpec",
    "Lease",
    "NoLeaderError",
    "NotFoundError",
    "OverloadedError",
    "PayloadTooLargeError",
    "PermanentError",
    "QueuePausedError",
    "QueueStats",
    "RaftqError",
    "RateLimitedError",
    "RequestTimeoutError",
    "RetryOptions",
    "Schedule",
    "StaleLeaseError",
    "SubmitManyOutcome",
    "UnauthorizedError",
    "Worker",
    "WorkerJob",
]
