"""The closed set of error codes raftq answers with, as Python exceptions.

Every failure the SDK raises is a RaftqError whose ``code`` is one of ERROR_CODES (the same set
as the node's ``src/errors.ts``); each code also has its own subclass, so callers may write
``except StaleLeaseError`` or ``except RaftqError as e: if e.code == "NOT_FOUND"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

ERROR_CODES: tuple[str, ...] = (
    "BAD_REQUEST",
    "NOT_FOUND",
    "NO_LEADER",
    "TIMEOUT",
    "STALE_LEASE",
    "OVERLOADED",
    "PAYLOAD_TOO_LARGE",
    "QUEUE_PAUSED",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "RATE_LIMITED",
    "INTERNAL",
)

# Codes a client may retry as they are (possibly against another node): the node's own set.
RETRYABLE_CODES: frozenset[str] = frozenset({"NO_LEADER", "TIMEOUT", "OVERLOADED", "RATE_LIMITED"})


@dataclass(frozen=True)
class SubmitManyOutcome:
    """What became of the jobs of a ``submit_many`` that failed. Its requests go one after
    another, so the list's first ``len(taken_ids)`` jobs were taken, the failed request's jobs were
    refused or are of unknown outcome, and the rest were not sent."""

    taken_ids: list[str]
    refused: int
    unknown: int
    not_sent: int


class RaftqError(Exception):
    """An error with a stable ``code``; ``field`` names the offending request field, if any."""

    code: str = "INTERNAL"
    # Set on the error a submit_many raises: which of its jobs were taken.
    submitted: SubmitManyOutcome | None = None
    # Set by the SDK when an earlier try of the same call went unanswered (it may have applied),
    # so this answer, even a refusal, does not say the request was not applied.
    outcome_unknown: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool | None = None,
        field: str | None = None,
        leader: str | None = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.retryable = (self.code in RETRYABLE_CODES) if retryable is None else retryable
        self.field = field
        # Where the leader is, when the code is NO_LEADER and the node knows (host:port or node id).
        self.leader = leader

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, field={self.field!r})"


class BadRequestError(RaftqError):
    code = "BAD_REQUEST"


class NotFoundError(RaftqError):
    code = "NOT_FOUND"


class NoLeaderError(RaftqError):
    code = "NO_LEADER"


class RequestTimeoutError(RaftqError):
    """TIMEOUT: no answer in time, or the connection was lost; the request may still apply."""

    code = "TIMEOUT"


class StaleLeaseError(RaftqError):
    code = "STALE_LEASE"


class OverloadedError(RaftqError):
    code = "OVERLOADED"


class PayloadTooLargeError(RaftqError):
    code = "PAYLOAD_TOO_LARGE"


class QueuePausedError(RaftqError):
    code = "QUEUE_PAUSED"


class UnauthorizedError(RaftqError):
    code = "UNAUTHORIZED"


class ForbiddenError(RaftqError):
    code = "FORBIDDEN"


class RateLimitedError(RaftqError):
    code = "RATE_LIMITED"


class InternalError(RaftqError):
    code = "INTERNAL"


ERROR_CLASSES: dict[str, type[RaftqError]] = {
    cls.code: cls
    for cls in (
        BadRequestError,
        NotFoundError,
        NoLeaderError,
        RequestTimeoutError,
        StaleLeaseError,
        OverloadedError,
        PayloadTooLargeError,
        QueuePausedError,
        UnauthorizedError,
        ForbiddenError,
        RateLimitedError,
        InternalError,
    )
}
assert set(ERROR_CLASSES) == set(ERROR_CODES), "every error code has its class"


def raftq_error(
    code: str,
    message: str,
    *,
    retryable: bool | None = None,
    field: str | None = None,
    leader: str | None = None,
) -> RaftqError:
    """The exception for ``code`` (its subclass); an unknown code becomes INTERNAL."""
    cls = ERROR_CLASSES.get(code)
    if cls is None:
        return InternalError(f"unknown error code {code}: {message}")
    return cls(message, retryable=retryable, field=field, leader=leader)


def error_from_wire(error: Any) -> RaftqError:
    """The exception for an ``{code, message, retryable, leader?, field?}`` error answer."""
    if not isinstance(error, Mapping):
        return InternalError("error answer without details")
    code = error.get("code")
    message = error.get("message")
    text = message if isinstance(message, str) else str(code)
    if not isinstance(code, str) or code not in ERROR_CLASSES:
        return InternalError(f"unknown error code {code}: {text}")
    retryable = error.get("retryable")
    leader = error.get("leader")
    field = error.get("field")
    return raftq_error(
        code,
        text,
        retryable=retryable if isinstance(retryable, bool) else False,
        field=field if isinstance(field, str) else None,
        leader=leader if isinstance(leader, str) else None,
    )


# Codes a node answers for the request itself, before anything of it applies.
_REFUSALS: frozenset[str] = frozenset({"BAD_REQUEST", "NOT_FOUND", "PAYLOAD_TOO_LARGE", "QUEUE_PAUSED", "UNAUTHORIZED", "FORBIDDEN"})


def may_have_applied(error: RaftqError) -> bool:
    """Whether an enqueue request that failed with ``error`` may still have applied.

    A request applies whole or not at all, and a session makes its retries apply once, so its final
    answer is authoritative, except when retries ran out (the last try may have applied
    unanswered), after a try that went unanswered (``outcome_unknown``: another node may judge the
    request differently), when the node no longer keeps a retried request's result (BAD_REQUEST
    on ``seq``), and for INTERNAL (a bug, or the client closed with the request in flight).
    """
    if error.retryable or error.outcome_unknown or error.code not in _REFUSALS:
        return True
    return error.code == "BAD_REQUEST" and error.field == "seq"


def connection_error(address: str, what: str) -> RequestTimeoutError:
    """A transport failure: the outcome is unknown, so it is safe to retry (elsewhere) with the same seq."""
    return RequestTimeoutError(f"{address}: {what}", retryable=True)


def closed_error() -> InternalError:
    return InternalError("the client is closed", retryable=False)
