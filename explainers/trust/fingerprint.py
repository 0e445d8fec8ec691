"""A map's fingerprint in its receipt (its 16 x 16 cell means and its peak), so a replay can be judged within float
tolerance from the receipt alone: a map recomputed on other hardware, or by a batched method whose sums run in another
order (dense occlusion), is rarely bit-for-bit the same, yet is the same map.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .curves import pool

GRID = 16
DIGITS = 7  # significant digits kept per cell: float32 carries about 7
TOLERANCE = 1e-4
"""Cells may differ by this share of the map's peak (|map| max): float reordering moves a 224 x 224 map by ~1e-6 of
its peak; a different map (another target, another option) moves its cells by more than 1e-2."""


def fingerprint(heatmap: np.ndarray) -> dict[str, Any]:
    """The receipt's view of a map: shape, peak (max |value|) and the mean of each of GRID x GRID cells (row-major)."""
    values = np.asarray(heatmap, dtype=np.float64)
    cells = [float(f"{v:.{DIGITS}g}") for v in pool(values, GRID)]
    return {"shape": list(values.shape), "peak": float(np.abs(values).max(initial=0.0)), "grid": GRID, "cells": cells}


def check(heatmap: np.ndarray, want: Mapping[str, Any] | None) -> dict[str, Any]:
    """Whether a replayed map matches a receipt's fingerprint: {"reproduced": bool or None, "cell_difference": the
    largest cell difference as a share of the peak, or None, "why": one sentence}. None when the receipt has no
    fingerprint (receipts written before it: upload the kept .npy instead).
    """
    if not isinstance(want, Mapping) or not isinstance(want.get("cells"), list):
        return {
            "reproduced": None,
            "cell_difference": None,
            "why": "this receipt has no fingerprint of its map (it predates them): upload the kept .npy to compare",
        }
    got = fingerprint(heatmap)
    if got["shape"] != list(want.get("shape", [])) or len(want["cells"]) != len(got["cells"]):
        return {
            "reproduced": False,
            "cell_difference": None,
            "why": f"the replayed map is {got['shape']}, the receipt's was {want.get('shape')}",
        }
    peak = max(float(want.get("peak", 0.0)), got["peak"], 1e-30)
    difference = float(np.abs(np.subtract(got["cells"], want["cells"], dtype=np.float64)).max() / peak)
    same = difference <= TOLERANCE
    word = "within" if same else "beyond"
    return {
        "reproduced": same,
        "cell_difference": difference,
        "why": (
            f"its {GRID}x{GRID} cell means differ from the receipt's by at most {difference:.1e} of the map's peak, "
            f"{word} the tolerance of {TOLERANCE:g}"
        ),
    }
