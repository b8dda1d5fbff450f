"""Group commit without a timer: one sender thread sends everything added so far as one group;
what is added while that group is under way waits and goes in the next. So one group is in
flight at a time, a lone item goes at once, and the busier the producers the bigger the groups."""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, send: Callable[[list[T]], None], *, thread_name: str) -> None:
        # Called on the sender thread; it must settle every item it is given and not raise.
        self._send = send
        self._changed = threading.Condition()
        self._pending: list[T] = []
        self._closing = False
        self._sender = threading.Thread(target=self._send_loop, name=thread_name, daemon=True)

    @property
    def pending_count(self) -> int:
        """Items waiting for the next group (not those of the group under way)."""
        with self._changed:
            return len(self._pending)

    def start(self) -> None:
        self._sender.start()

    def add(self, item: T) -> None:
        with self._changed:
            self._pending.append(item)
            self._changed.notify()

    def close(self) -> None:
        """Sends what was added, then ends the sender thread and waits for it. Idempotent."""
        with self._changed:
            self._closing = True
            self._changed.notify()
        if self._sender.is_alive():
            self._sender.join()

    def _send_loop(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._pending) or self._closing)
                if not self._pending:
                    return
                group, self._pending = self._pending, []
            self._send(group)
