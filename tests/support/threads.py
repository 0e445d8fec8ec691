"""Run a test's work on several threads at once and fail in the test's own thread if any of them raised."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_threads(work: Callable[[int], None], workers: int) -> None:
    """Call work(0), ..., work(workers - 1), each on its own thread, all started before any is joined.

    Raises:
        AssertionError: a worker raised; the message lists what they raised.
    """
    errors: list[BaseException] = []

    def guarded(worker: int) -> None:
        try:
            work(worker)
        except BaseException as exc:  # noqa: BLE001 - reported in the caller's thread below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
