"""Content-keyed memo for work that repeats across requests on one (model, image): bounded in bytes, thread-safe.

One computation per key at a time: a second caller with the same key waits for the first and takes its result, so
32 callers explaining one photo compute its scorecard reference once. Keys name content (weights sha256, image
sha256 or tensor digest, options), never object ids, so an evicted entry recomputes to the same value.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import numpy as np

V = TypeVar("V")


class Memo(Generic[V]):
    """Least-recently-used results, at most ``max_bytes`` in all (as ``size`` counts them) and ``max_entries``.

    A value larger than ``max_bytes`` is returned but never kept.
    """

    def __init__(self, *, max_bytes: int, max_entries: int, size: Callable[[V], int]) -> None:
        self.max_bytes, self.max_entries, self._size = int(max_bytes), int(max_entries), size
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._pending: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()
        self._bytes = 0
        self._stats = {"hits": 0, "misses": 0}

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The value kept for ``key``, else ``compute()`` (once for all concurrent callers of that key)."""
        while True:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    self._stats["hits"] += 1
                    return self._entries[key][0]
                waiting = self._pending.get(key)
                if waiting is None:
                    self._pending[key] = threading.Event()
                    self._stats["misses"] += 1
                    break
            waiting.wait()  # the computing caller finished (or failed: then this one computes)
        try:
            value = compute()
            self._keep(key, value)
            return value
        finally:
            with self._lock:
                self._pending.pop(key).set()

    def _keep(self, key: Hashable, value: V) -> None:
        nbytes = int(self._size(value))
        if nbytes > self.max_bytes or self.max_entries < 1:
            return
        with self._lock:
            self._entries[key] = (value, nbytes)
            self._bytes += nbytes
            while self._bytes > self.max_bytes or len(self._entries) > self.max_entries:
                _, (_, freed) = self._entries.popitem(last=False)
                self._bytes -= freed

    def stats(self) -> dict[str, int]:
        """Hits, misses, entries and bytes held, for tests and the benchmark."""
        with self._lock:
            return {**self._stats, "entries": len(self._entries), "bytes": self._bytes}

    def clear(self) -> None:
        """Forget every entry (computations under way still finish and are kept)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def nbytes(value: Any) -> int:
    """Bytes held by arrays and tensors in a value (nested tuples, lists and dicts; dataclasses by their fields)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if hasattr(value, "element_size") and hasattr(value, "nelement"):  # a torch.Tensor, without importing torch
        return int(value.element_size() * value.nelement())
    if isinstance(value, (tuple, list)):
        return sum(nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if hasattr(value, "__dataclass_fields__"):
        return sum(nbytes(getattr(value, name)) for name in value.__dataclass_fields__)
    return 0


def digest(array: Any) -> str:
    """sha256 of an array's or tensor's dtype, shape and bytes: a content key for it."""
    values = np.ascontiguousarray(array.detach().cpu().numpy() if hasattr(array, "detach") else array)
    h = hashlib.sha256(f"{values.dtype}{values.shape}".encode())
    h.update(values.tobytes())
    return h.hexdigest()
