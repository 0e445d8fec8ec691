"""The content-keyed memo behind the prediction and scorecard caches: bounded, least recently used, one computation
per key at a time."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from explainers.cache import Memo, digest, nbytes


def test_a_kept_value_is_returned_without_computing_again() -> None:
    memo: Memo[int] = Memo(max_bytes=100, max_entries=4, size=lambda v: 1)
    calls = []
    assert memo.get("a", lambda: calls.append(1) or 7) == 7
    assert memo.get("a", lambda: calls.append(1) or 8) == 7
    assert len(calls) == 1 and memo.stats()["hits"] == 1 and memo.stats()["misses"] == 1


def test_the_least_recently_used_entry_goes_first_when_the_byte_bound_is_passed() -> None:
    memo: Memo[np.ndarray] = Memo(max_bytes=2000, max_entries=10, size=nbytes)
    for key in "abc":
        memo.get(key, lambda: np.zeros(100))  # 800 bytes each: only two fit
    assert memo.stats()["entries"] == 2 and memo.stats()["bytes"] == 1600
    memo.get("b", lambda: pytest.fail("b should be kept"))
    memo.get("a", lambda: np.zeros(100))  # a was evicted: computed again, and c (least recent) goes
    memo.get("b", lambda: pytest.fail("b should still be kept"))


def test_a_value_over_the_bound_is_returned_but_not_kept() -> None:
    memo: Memo[np.ndarray] = Memo(max_bytes=100, max_entries=10, size=nbytes)
    assert memo.get("big", lambda: np.zeros(1000)).shape == (1000,)
    assert memo.stats()["entries"] == 0


def test_concurrent_callers_of_one_key_share_one_computation() -> None:
    memo: Memo[int] = Memo(max_bytes=100, max_entries=4, size=lambda v: 1)
    calls = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.2)
        return 42

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(memo.get("k", slow))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 8 and len(calls) == 1


def test_a_failed_computation_is_not_kept_and_the_next_caller_computes() -> None:
    memo: Memo[int] = Memo(max_bytes=100, max_entries=4, size=lambda v: 1)
    with pytest.raises(ZeroDivisionError):
        memo.get("k", lambda: 1 // 0)
    assert memo.get("k", lambda: 3) == 3


def test_digest_names_content_not_the_object() -> None:
    a = torch.arange(12.0).reshape(3, 4)
    assert digest(a) == digest(a.clone()) == digest(a.numpy().copy())
    assert digest(a) != digest(a + 1e-6) and digest(a) != digest(a.reshape(4, 3))
