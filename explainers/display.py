"""Readable maps: each method's raw map smoothed to the resolution it was computed at and clipped at robust percentiles.

What a person sees is not what a receipt stores: ``Explanation.heatmap`` keeps the exact values (the .npy download,
the receipt, replay), and ``display_map`` derives the picture from it. numpy/PIL only, like render.py.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import render
from .render import overlay, side_by_side
from .types import Explanation, TaskInfo

CLIP_PERCENTILE = 99.0
"""Colours saturate at this percentile of |smoothed map|: the top 1% of pixels cannot wash out the rest."""
PIXEL_SIGMA_FRACTION = 1 / 56
"""Gaussian sigma, as a share of the shorter input side, for maps computed per pixel (IG: 4 px at 224, ~2 at 96):
per-pixel attributions alternate in sign between neighbours, and a few pixels of smoothing show where they add up."""
PIXEL_METHODS = frozenset({"integrated_gradients"})
"""Methods whose map has one free value per pixel: shown as |evidence| with the sign in a second panel."""


@dataclass(frozen=True)
class DisplayMap:
    """A map ready to lay over the picture, and what its colours mean.

    Attributes:
        values: float32 (h, w) at the model input resolution, smoothed and clipped to [-scale, scale] (signed) or
            [0, scale] (absolute).
        scale: the value shown at full colour (the colour bar's end), in ``unit``.
        signed: blue-white-red around zero; False: sequential, zero to ``scale``.
        unit: the target's unit ("logit of espresso", "calories (kcal)").
        label: the colour bar's text: the unit and what the colours mean.
        caption: a sentence for under the picture: what the values are for this method, the smoothing and the clip.
        sign: for absolute views, the smoothed signed map (-1..1 after clipping) for a second panel; else None.
        sigma: the Gaussian smoothing in input pixels (0 = none: the method's own grid is already smooth).
    """

    values: np.ndarray
    scale: float
    signed: bool
    unit: str
    label: str
    caption: str
    sign: np.ndarray | None
    sigma: float


def display_map(explanation: Explanation, *, task: TaskInfo | None = None, absolute: bool | None = None) -> DisplayMap:
    """The readable view of one explanation (the raw heatmap is left untouched).

    Smoothing follows the method's own resolution: none for maps upsampled from a feature grid (Grad-CAM and any
    method whose extras name a ``grid``), a Gaussian of half the stride for occlusion (its windows overlap by that
    much), PIXEL_SIGMA_FRACTION of the side for per-pixel methods. Colours then clip at CLIP_PERCENTILE of |map|.

    Args:
        explanation: any method's result.
        task: the model's task, to state regression maps in the target's unit (``target_std`` de-normalises them).
        absolute: show |evidence| on the sequential colour map (the sign goes to ``sign``); None = for per-pixel
            methods (PIXEL_METHODS) only.

    Raises:
        ValueError: the heatmap is not a finite 2-D array.
    """
    raw = np.asarray(explanation.heatmap, dtype=np.float64)
    if raw.ndim != 2 or 0 in raw.shape or not np.isfinite(raw).all():
        raise ValueError(f"expected a finite 2-D heatmap, got shape {raw.shape}; this is a bug in the method")
    factor, unit = target_unit(explanation, task)
    sigma = smoothing_sigma(explanation)
    smooth = smoothed(explanation) * factor
    absolute = explanation.method in PIXEL_METHODS if absolute is None else absolute
    shown = np.abs(smooth) if absolute else smooth
    scale = robust_range(shown)
    clipped = np.clip(shown, 0.0 if absolute else -scale, scale) if scale > 0 else np.zeros_like(shown)
    sign = np.clip(smooth / scale, -1.0, 1.0).astype(np.float32) if absolute and scale > 0 else None
    if absolute and sign is None:
        sign = np.zeros_like(smooth, dtype=np.float32)
    return DisplayMap(
        values=clipped.astype(np.float32),
        scale=scale,
        signed=not absolute,
        unit=unit,
        label=_label(explanation, unit, absolute),
        caption=_caption(explanation, unit, sigma),
        sign=sign,
        sigma=sigma,
    )


def readable_overlay(
    rgb: np.ndarray, explanation: Explanation, crop_box: Sequence[float], *, task: TaskInfo | None = None
) -> np.ndarray:
    """The picture the UI shows for one explanation: the display map over the upload with its colour bar, and for
    absolute views a second panel with the sign (red: raises the target, blue: lowers it).

    Args:
        rgb: the original upload (PreparedImage.rgb).
        explanation: any method's result.
        crop_box: where the model's view sits in ``rgb`` (PreparedImage.crop_box).
        task: the model's task, for the unit (see display_map).
    """
    shown = display_map(explanation, task=task)
    main = overlay(rgb, shown.values, crop_box, scale=shown.scale, signed=shown.signed, label=shown.label)
    if shown.sign is None:
        return main
    sign = overlay(rgb, shown.sign, crop_box, scale=1.0, signed=True, label="sign: red raises, blue lowers")
    return side_by_side([main, sign], ["evidence |size|", "sign"])


def smoothed(explanation: Explanation) -> np.ndarray:
    """The raw map smoothed to the method's own resolution (smoothing_sigma), in raw units, not clipped."""
    return gaussian(np.asarray(explanation.heatmap, dtype=np.float64), smoothing_sigma(explanation))


def target_unit(explanation: Explanation, task: TaskInfo | None) -> tuple[float, str]:
    """(factor from raw outputs to the target's unit, the unit in words) for the explained output."""
    target = explanation.target
    if target.kind == "regression":
        std = task.target_std if task is not None else None
        units = task.units if task is not None else None
        unit = units[target.index] if units and units[target.index] else ""
        if std is not None:
            return float(std[target.index]), f"{target.name} ({unit})" if unit else target.name
        return 1.0, f"{target.name} (head's normalised output)"
    return 1.0, f"logit of {target.name}"


def smoothing_sigma(explanation: Explanation) -> float:
    """Gaussian sigma (input pixels) that brings this method's map to its own resolution; 0 for grid-upsampled maps."""
    extras, options = explanation.extras, explanation.options
    if extras.get("grid") is not None:
        return 0.0
    h, w = np.shape(explanation.heatmap)
    stride = options.get("stride")
    if explanation.method == "occlusion" and isinstance(stride, (int, float)) and stride > 0:
        return float(stride) / 2
    return PIXEL_SIGMA_FRACTION * min(h, w)


def gaussian(values: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (radius 3 sigma, reflected borders) of a 2-D map; sigma 0 returns a copy."""
    arr = np.asarray(values, dtype=np.float64)
    if sigma <= 0:
        return arr.copy()
    radius = max(1, min(int(np.ceil(3 * sigma)), min(arr.shape) - 1))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(arr, radius, mode="reflect")
    rows = np.apply_along_axis(np.convolve, 1, padded, kernel, mode="valid")
    return np.apply_along_axis(np.convolve, 0, rows, kernel, mode="valid")


def robust_range(values: np.ndarray) -> float:
    """CLIP_PERCENTILE of |values|, or their maximum when that percentile is 0 (sparse maps); 0 for an all-zero map."""
    magnitude = np.abs(np.asarray(values, dtype=np.float64))
    robust = float(np.percentile(magnitude, CLIP_PERCENTILE))
    return robust if robust > 0 else float(magnitude.max())


def _label(explanation: Explanation, unit: str, absolute: bool) -> str:
    """The colour bar's text: short enough to sit beside the bar's min / max at 512 px."""
    if absolute:
        return f"|evidence|, {unit}"
    verb, other = ("raises", "lowers") if explanation.target.sign == 1 else ("lowers", "raises")
    return f"{unit} (red {verb}, blue {other})"


def _caption(explanation: Explanation, unit: str, sigma: float) -> str:
    what = {
        "occlusion": f"how much the {unit} drops when a window around the pixel is filled",
        "integrated_gradients": f"each pixel's share of the change in the {unit} from the baseline",
        "gradcam": f"channel-weighted activation for the {unit}, per feature cell",
    }.get(explanation.method, f"evidence for the {unit}")
    smoothing = f"smoothed {sigma:.1f} px, " if sigma else ""
    return f"{what}; {smoothing}colours saturate at the {CLIP_PERCENTILE:g}th percentile (the .npy keeps exact values)"


def legend_html(scale: float, *, signed: bool = True, unit: str = "", note: str = "") -> str:
    """A colour legend to show beside (not inside) the pictures: the colour map as a CSS gradient, its ends and zero
    in ``unit``, and a note. HTML with inline styles only, so it reads the same in any page.

    Args:
        scale: the value at full colour (the overlays' ``scale``); 0 says the maps are all zero.
        signed: blue-white-red around zero; False: the sequential map from 0.
        unit: what the numbers are, e.g. "evidence density (1 = spread evenly)".
        note: a sentence under the bar.
    """
    lut = render.DIVERGING_LUT if signed else render.SEQUENTIAL_LUT
    stops = ", ".join(f"rgb{tuple(int(c) for c in lut[i])} {100 * i / 255:.0f}%" for i in range(0, 256, 32))
    ends = (f"-{scale:.3g}", "0", f"+{scale:.3g}") if signed else ("0", "", f"{scale:.3g}")
    ticks = "".join(f"<span>{html.escape(t)}</span>" for t in ends)
    bar = (
        f'<div style="height:14px;border-radius:3px;background:linear-gradient(to right, {stops})"></div>'
        f'<div style="display:flex;justify-content:space-between;font-size:0.9em">{ticks}</div>'
    )
    if scale <= 0:
        bar = "<div>every map is all zero: nothing to colour</div>"
    head = f"<strong>Colour scale</strong>{': ' + html.escape(unit) if unit else ''}"
    tail = f'<div style="font-size:0.9em;margin-top:4px">{html.escape(note)}</div>' if note else ""
    return f'<div class="xai-legend" style="max-width:640px">{head}{bar}{tail}</div>'
