"""Where a map puts the evidence for its target: shares of positive mass over a 3x3 grid of named regions."""

from __future__ import annotations

from typing import Any

import numpy as np

REGIONS = (
    ("top-left", "top-centre", "top-right"),
    ("centre-left", "centre", "centre-right"),
    ("bottom-left", "bottom-centre", "bottom-right"),
)
# What the report calls each region in other languages (receipts keep the English names above).
REGION_NAMES: dict[str, dict[str, str]] = {
    "es": {
        "top-left": "la parte superior izquierda",
        "top-centre": "la parte superior central",
        "top-right": "la parte superior derecha",
        "centre-left": "la parte central izquierda",
        "centre": "el centro",
        "centre-right": "la parte central derecha",
        "bottom-left": "la parte inferior izquierda",
        "bottom-centre": "la parte inferior central",
        "bottom-right": "la parte inferior derecha",
    }
}


def region_name(region: str, language: str = "en") -> str:
    """A region's name as the report writes it in ``language`` (the receipt's English name otherwise)."""
    return REGION_NAMES.get(language, {}).get(region, region)


def evidence(heatmap: np.ndarray) -> dict[str, Any]:
    """Where a map puts the evidence for its target, from its positive part (what supports the target).

    Returns:
        regions: share of the positive mass in each cell of a 3x3 grid of named regions (REGIONS).
        main: the region holding the most; main_share: its share.
        area_half: the smallest share of the image's pixels that holds half of the positive mass.
        peak: the region of the map's maximum.
        positive_share: positive mass over total absolute mass (1 = the map only supports the target).
    """
    values = np.asarray(heatmap, dtype=np.float64)
    positive = np.maximum(values, 0.0)
    total = float(positive.sum())
    h, w = values.shape
    rows, cols = np.linspace(0, h, 4).round().astype(int), np.linspace(0, w, 4).round().astype(int)
    regions = {
        REGIONS[i][j]: float(positive[rows[i] : rows[i + 1], cols[j] : cols[j + 1]].sum() / total) if total else 0.0
        for i in range(3)
        for j in range(3)
    }
    main = max(regions, key=lambda name: regions[name])
    ranked = np.sort(positive.ravel())[::-1]
    area_half = float((np.searchsorted(np.cumsum(ranked), 0.5 * total) + 1) / ranked.size) if total else 0.0
    r, c = np.unravel_index(int(np.argmax(values)), values.shape)
    absolute = float(np.abs(values).sum())
    return {
        "regions": {k: round(v, 4) for k, v in regions.items()},
        "main": main,
        "main_share": round(regions[main], 4),
        "area_half": round(area_half, 4),
        "peak": REGIONS[min(2, 3 * int(r) // h)][min(2, 3 * int(c) // w)],
        "positive_share": round(total / absolute, 4) if absolute else 0.0,
    }
