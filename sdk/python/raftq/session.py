"""The client side of exactly-once requests (Raft dissertation section 6.3).

Every mutating request gets the next seq of this client, and a retry reuses it. The state machine
keeps only the last SESSION_RESULTS_MAX results of a client, so a seq must never fall that far
behind the newest one while its answer is still outstanding: the window holds new requests back
until it fits.
"""

from __future__ import annotations

import threading

from .errors import closed_error


class SessionWindow:
    def __init__(self, window_size: int) -> None:
        assert window_size > 0
        self._window_size = window_size
        self._next_seq = 1
        # Seqs handed out and not yet released; a dict keeps insertion (= seq) order.
        self._outstanding: dict[int, None] = {}
        self._changed = threading.Condition()
        self._closed = False

    @property
    def outstanding_count(self) -> int:
        with self._changed:
            return len(self._outstanding)

    @property
    def floor(self) -> int:
        """The oldest seq still awaiting its answer (every smaller one has been answered)."""
        with self._changed:
            return self._floor_locked()

    def acquire(self, timeout_s: float | None = None) -> int:
        """A fresh seq, once it is within the window of the oldest outstanding one."""
        with self._changed:
            fits = self._changed.wait_for(lambda: self._closed or self._fits(), timeout_s)
            if self._closed:
                raise closed_error()
            if not fits:
                raise TimeoutError("no seq within the session window in time")
            seq = self._next_seq
            self._next_seq += 1
            self._outstanding[seq] = None
            return seq

    def release(self, seq: int) -> None:
        """The request with this seq got its final answer (or was given up on)."""
        with self._changed:
            self._outstanding.pop(seq, None)
            self._changed.notify_all()

    def close(self) -> None:
        """Every acquire waiting now, and every later one, raises the client's closed error."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _floor_locked(self) -> int:
        return next(iter(self._outstanding), self._next_seq)

    def _fits(self) -> bool:
        return self._next_seq - self._floor_locked() < self._window_size
