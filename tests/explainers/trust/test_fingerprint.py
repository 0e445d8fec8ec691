"""A receipt's fingerprint judges a replay within float tolerance, without the kept .npy."""

from __future__ import annotations

import numpy as np

from explainers.trust import fingerprint


def a_map(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(64, 64)).astype(np.float32)


def test_the_same_map_with_float_noise_reproduces() -> None:
    heatmap = a_map()
    noisy = heatmap * (1 + np.random.default_rng(1).normal(scale=1e-6, size=heatmap.shape)).astype(np.float32)
    judged = fingerprint.check(noisy, fingerprint.fingerprint(heatmap))
    assert judged["reproduced"] is True and judged["cell_difference"] < fingerprint.TOLERANCE


def test_another_map_does_not_reproduce() -> None:
    judged = fingerprint.check(a_map(1), fingerprint.fingerprint(a_map(0)))
    assert judged["reproduced"] is False and "beyond the tolerance" in judged["why"]


def test_a_small_local_change_is_caught() -> None:
    heatmap = a_map()
    changed = heatmap.copy()
    changed[:4, :4] += 0.05 * float(np.abs(heatmap).max())  # one cell moved by 5% of the peak
    assert fingerprint.check(changed, fingerprint.fingerprint(heatmap))["reproduced"] is False


def test_a_map_of_another_shape_does_not_reproduce() -> None:
    judged = fingerprint.check(a_map()[:32], fingerprint.fingerprint(a_map()))
    assert judged["reproduced"] is False and "[32, 64]" in judged["why"]


def test_a_receipt_without_a_fingerprint_leaves_the_question_open() -> None:
    judged = fingerprint.check(a_map(), None)
    assert judged["reproduced"] is None and ".npy" in judged["why"]


def test_the_fingerprint_is_json_ready_and_small() -> None:
    found = fingerprint.fingerprint(a_map())
    assert len(found["cells"]) == fingerprint.GRID**2 and found["shape"] == [64, 64]
    assert all(isinstance(v, float) for v in found["cells"])
