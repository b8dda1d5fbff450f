"""Splitting a list into requests that each stay within a count and a byte budget."""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

T = TypeVar("T")


def split_batches(items: Sequence[T], bytes_of: Callable[[T], int], count_max: int, bytes_max: int) -> list[list[T]]:
    """``items`` in order, cut into lists of at most ``count_max`` items whose ``bytes_of`` add up
    to at most ``bytes_max``; an item over the budget on its own still gets a list (the node judges it)."""
    batches: list[list[T]] = []
    batch: list[T] = []
    batch_bytes = 0
    for item in items:
        item_bytes = bytes_of(item)
        if batch and (len(batch) >= count_max or batch_bytes + item_bytes > bytes_max):
            batches.append(batch)
            batch = []
            batch_bytes = 0
        batch.append(item)
        batch_bytes += item_bytes
    if batch:
        batches.append(batch)
    return batches
