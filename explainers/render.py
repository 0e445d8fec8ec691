"""Rendering: raw maps and counterfactual edits -> uint8 RGB pictures laid over the original upload (numpy/PIL only)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import OptionError

COLORBAR_HEIGHT = 42
"""Height of the colour bar strip under an overlay up to 959 px wide; wider pictures get colorbar_height(width)."""
TITLE_HEIGHT = 20
"""Height of the title strip above each side_by_side panel up to 959 px tall (scaled like the colour bar)."""
ROBUST_PERCENTILE = 99.5
"""Default scale: this percentile of |map|, so a few outlier pixels (common in IG) cannot wash out the rest."""
DIM = 0.45
"""Brightness kept by dimmed (greyed) pixels: outside the model's view, or below the change threshold."""
CONTOUR = 0.5
"""Overlays outline where |value| reaches this share of the scale: the strong evidence keeps an edge on any colour."""
CONTOUR_COLOR = (0, 0, 0)

# Control points of matplotlib's inferno (perceptually uniform, dark -> hot), sampled at 9 even steps.
_INFERNO = [(0, 0, 4), (31, 12, 72), (85, 15, 109), (136, 34, 106), (186, 54, 85),
            (227, 89, 51), (249, 140, 10), (249, 201, 50), (252, 255, 164)]  # fmt: skip
# Blue-white-red, RdBu-like with saturated ends so full strength stays visible when blended at alpha 0.5.
_DIVERGING = [(30, 60, 200), (110, 150, 230), (247, 247, 247), (240, 130, 100), (200, 20, 30)]
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601


def _lut(points: list[tuple[int, int, int]]) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    x, xp = np.linspace(0, 1, 256), np.linspace(0, 1, len(pts))
    return np.stack([np.interp(x, xp, pts[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)


SEQUENTIAL_LUT = _lut(_INFERNO)
"""uint8 (256, 3): unsigned maps, index 0 = zero, 255 = the scale."""
DIVERGING_LUT = _lut(_DIVERGING)
"""uint8 (256, 3): signed maps, index 0 = -scale, 127.5 = zero (white), 255 = +scale."""


def colorbar_height(width: int) -> int:
    """Height of the colour bar strip under an overlay of this width (grows with wide pictures to stay legible)."""
    return COLORBAR_HEIGHT * _zoom(width)


def _zoom(size: int) -> int:
    return max(1, round(size / 640))


@lru_cache(maxsize=8)
def _font(zoom: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=11 * zoom)  # Pillow's bundled font; fixed-size bitmap without FreeType


def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        found = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"expected rgb as a uint8 (H, W, 3) array, got {found}; use PreparedImage.rgb")


def _check_map(values: np.ndarray, name: str, ndim: int = 2) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != ndim or 0 in arr.shape:
        raise ValueError(f"expected {name} with {ndim} non-empty dimensions, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"the {name} is not finite (NaN or inf); this is a bug in the explainer that produced it")
    return arr


def _check_box(crop_box: Sequence[float]) -> tuple[float, float, float, float]:
    left, top, right, bottom = (float(v) for v in crop_box)
    if not np.isfinite([left, top, right, bottom]).all() or right <= left or bottom <= top:
        raise ValueError(
            f"expected crop_box (left, top, right, bottom) with right > left, bottom > top; got {crop_box}"
        )
    return left, top, right, bottom


def _dimmed(rgb: np.ndarray, brightness: float = DIM) -> np.ndarray:
    grey = (rgb @ (_LUMA * brightness)).round().clip(0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _contour(strong: np.ndarray) -> np.ndarray:
    """Pixels just outside a mask's regions (4-neighbours of a masked pixel that are not masked): an outline that
    leaves the region's own colour untouched.
    """
    near = np.zeros_like(strong)
    near[1:] |= strong[:-1]
    near[:-1] |= strong[1:]
    near[:, 1:] |= strong[:, :-1]
    near[:, :-1] |= strong[:, 1:]
    return near & ~strong


def _project(
    values: np.ndarray, crop_box: Sequence[float], height: int, width: int
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """Bilinear-resample a model-view map onto the original pixels it covers: ((rows, cols), resampled) or None."""
    left, top, right, bottom = _check_box(crop_box)
    x0, x1 = max(0, round(left)), min(width, round(right))
    y0, y1 = max(0, round(top)), min(height, round(bottom))
    if x1 <= x0 or y1 <= y0:
        return None  # the model's view lies outside the picture ('border' padding only)
    h, w = values.shape
    sx, sy = w / (right - left), h / (bottom - top)
    src = tuple(np.clip([(x0 - left) * sx, (y0 - top) * sy, (x1 - left) * sx, (y1 - top) * sy], 0, [w, h, w, h]))
    if src[2] <= src[0] or src[3] <= src[1]:
        return None
    pil = Image.fromarray(values.astype(np.float32))  # mode "F"
    out = np.asarray(pil.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR, box=src))
    return (slice(y0, y1), slice(x0, x1)), out


def overlay(
    rgb: np.ndarray,
    heatmap: np.ndarray,
    crop_box: Sequence[float],
    *,
    scale: float | None = None,
    signed: bool = True,
    alpha: float = 0.5,
    colorbar: bool = True,
    label: str = "",
    contour: bool = True,
) -> np.ndarray:
    """Lay a model-view heatmap over the original picture at the model's crop box.

    The picture under the map is shown in grey (its luminance), so the map's colours stay visible on a red cup or an
    orange fur as well as on a grey wall (captum's blended_heat_map greys the picture for the same reason). Colour
    encodes value / scale through the colour map and opacity grows with |value| / scale up to ``alpha``, so zero is
    transparent; a black outline surrounds where |value| reaches CONTOUR of the scale. Pixels outside the crop box
    (never seen by the model) are greyed and dimmed further. Values beyond the scale saturate.

    Args:
        rgb: the original picture.
        heatmap: raw map at the model input resolution.
        crop_box: (left, top, right, bottom) of the model's view in original pixels (PreparedImage.crop_box).
        scale: the |value| shown at full colour; larger values saturate. Pass shared_scale(...) to compare maps.
            Default: robust_scale(heatmap) (captum's visualiser clips 2% outliers by default; we clip 0.5%). The
            colour bar writes the scale at its ends and the map's true min and max above it.
        signed: diverging blue (negative) - red (positive) map symmetric around 0; False: positive part only, inferno.
        alpha: opacity of full-strength colour, in [0, 1].
        colorbar: append a strip (colorbar_height(W) tall) below with the value range and the label.
        label: text for the colour bar, such as the method and target.
        contour: outline where |value| reaches CONTOUR of the scale (off for speckled maps, where it adds clutter).

    Returns:
        uint8 (H + colorbar_height(W), W, 3), or (H, W, 3) without the colour bar.

    Raises:
        ValueError: bad shapes, a non-finite heatmap, negative scale, or a zero scale for a non-zero map.
    """
    _check_rgb(rgb)
    values = _check_map(heatmap, "heatmap")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"expected alpha in [0, 1], got {alpha}")
    shown = values if signed else np.maximum(values, 0.0)
    peak = float(np.abs(shown).max())
    if scale is None:
        scale = robust_scale(values, signed=signed)
    if not np.isfinite(scale) or scale < 0 or (scale == 0 and peak > 0):
        raise ValueError(f"expected a finite scale > 0 for a non-zero map, got {scale}; use shared_scale(heatmaps)")
    t = np.clip(shown / scale, -1.0, 1.0) if peak > 0 else np.zeros_like(shown)
    height, width = rgb.shape[:2]
    out = _dimmed(rgb)
    projected = _project(t, crop_box, height, width)
    if projected is not None:
        region, tt = projected
        index = np.round((tt + 1) * 127.5 if signed else tt * 255).astype(np.intp)
        lut = (DIVERGING_LUT if signed else SEQUENTIAL_LUT)[index]
        opacity = (alpha * np.abs(tt))[:, :, None]
        base = _dimmed(rgb[region], 1.0)
        shown = (base * (1 - opacity) + lut * opacity).round().astype(np.uint8)
        if contour:
            shown[_contour(np.abs(tt) >= CONTOUR)] = CONTOUR_COLOR
        out[region] = shown
    if not colorbar:
        return out
    return np.concatenate([out, _colorbar(width, scale if peak > 0 else 0.0, signed, label, values)], axis=0)


def _colorbar(width: int, scale: float, signed: bool, label: str, values: np.ndarray) -> np.ndarray:
    zoom, font = _zoom(width), _font(_zoom(width))
    strip = Image.new("RGB", (width, colorbar_height(width)), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    pad, row = 4 * zoom, 13 * zoom
    draw.text((pad, 1 * zoom), label, fill=(0, 0, 0), font=font)
    extremes = f"min {values.min():.3g}  max {values.max():.3g}"
    draw.text((width - pad, 1 * zoom), extremes, fill=(80, 80, 80), font=font, anchor="ra")
    if scale == 0:
        empty = "map is all zero" if not values.any() else "map has no positive values"
        draw.text((width // 2, row + 10 * zoom), empty, fill=(0, 0, 0), font=font, anchor="mm")
        return np.asarray(strip)
    bar_w = max(1, width - 2 * pad)
    lut = DIVERGING_LUT if signed else SEQUENTIAL_LUT
    ramp = lut[np.linspace(0, 255, bar_w).round().astype(np.intp)]
    strip.paste(Image.fromarray(np.repeat(ramp[None], 10 * zoom, axis=0)), (pad, row + 2 * zoom))
    y = row + 13 * zoom
    # Ends the map goes beyond saturate: "<=" / ">=" say so, which is why the max above can exceed the bar's end.
    low = "<=" if signed and values.min() < -scale * (1 + 1e-6) else ""
    high = ">=" if values.max() > scale * (1 + 1e-6) else ""
    draw.text((pad, y), f"{low}-{scale:.3g}" if signed else "0", fill=(0, 0, 0), font=font)
    end = f"{high}+{scale:.3g}" if signed else f"{high}{scale:.3g}"
    draw.text((width - pad, y), end, fill=(0, 0, 0), font=font, anchor="ra")
    if signed:
        draw.text((width // 2, y), "0", fill=(0, 0, 0), font=font, anchor="ma")
    return np.asarray(strip)


def robust_scale(heatmap: np.ndarray, *, signed: bool = True) -> float:
    """Overlay's default scale: the ROBUST_PERCENTILE of |heatmap| (positive part if unsigned), or the max if that is 0.

    Raises:
        ValueError: the map is not finite.
    """
    values = _check_map(heatmap, "heatmap")
    magnitude = np.abs(values) if signed else np.maximum(values, 0.0)
    robust = float(np.percentile(magnitude, ROBUST_PERCENTILE))
    return robust if robust > 0 else float(magnitude.max())  # sparse maps: a few non-zero pixels are the signal


def shared_scale(heatmaps: Sequence[np.ndarray], *, signed: bool = True) -> float:
    """The scale to pass to every overlay of several maps so equal colours mean equal values (the largest robust_scale).

    With it, the map of the output the image drives most is the most saturated one; 0.0 when every map is all zero.

    Raises:
        ValueError: no maps, or a map that is not finite.
    """
    if len(heatmaps) == 0:
        raise ValueError("expected at least one heatmap to share a scale across, got none")
    return max(robust_scale(h, signed=signed) for h in heatmaps)


def mark_box(
    rgb: np.ndarray,
    box: Sequence[int],
    crop_box: Sequence[float],
    *,
    model_hw: tuple[int, int],
    color: tuple[int, int, int] = (255, 255, 0),
    width: int = 3,
) -> np.ndarray:
    """Outline a region given in model-input pixels (top, left, bottom, right; end exclusive) on the original picture.

    ``rgb`` may be an overlay: its colour bar lies below the picture, so coordinates still hold.

    Raises:
        ValueError: the box is empty or leaves the model input.
    """
    _check_rgb(rgb)
    left, top, right, bottom = _check_box(crop_box)
    b_top, b_left, b_bottom, b_right = (float(v) for v in box)
    h, w = model_hw
    if not (0 <= b_top < b_bottom <= h and 0 <= b_left < b_right <= w):
        raise ValueError(f"expected box (top, left, bottom, right) inside the {h}x{w} model input, got {box}")
    sx, sy = (right - left) / w, (bottom - top) / h
    corners = (left + b_left * sx, top + b_top * sy, left + b_right * sx - 1, top + b_bottom * sy - 1)
    pil = Image.fromarray(rgb)
    ImageDraw.Draw(pil).rectangle([round(c) for c in corners], outline=tuple(color), width=width)
    return np.array(pil)


def _change(delta: np.ndarray) -> np.ndarray:
    values = _check_map(delta, "delta", ndim=3)
    if values.shape[2] != 3:
        raise ValueError(f"expected delta as (h, w, 3) at the model input resolution, got shape {values.shape}")
    return np.abs(values).sum(axis=2)


def change_overlay(rgb: np.ndarray, delta: np.ndarray, crop_box: Sequence[float]) -> np.ndarray:
    """Where a counterfactual changed the picture: |delta| summed over channels, on the sequential map."""
    # An edit is a speckle of single pixels: outlines around each would hide it.
    return overlay(rgb, _change(delta), crop_box, signed=False, label="change |delta| (sum over RGB)", contour=False)


def masked_by_change(rgb: np.ndarray, delta: np.ndarray, crop_box: Sequence[float], threshold: float) -> np.ndarray:
    """The original picture, greyed and dimmed except where the edit is concentrated.

    The threshold is relative to the edit's own size, not to its single largest pixel: it is the share of the edit's
    total change (|delta| summed over pixels) left out. The most-changed pixels that together hold the remaining
    1 - threshold are kept in colour, so an imperceptible edit shows where it is as clearly as a visible one. 0 keeps
    the whole picture; 1 only the most-changed pixel. Outside the crop box nothing changed. Cheap enough for every
    slider move.

    Raises:
        OptionError: threshold outside [0, 1].
    """
    _check_rgb(rgb)
    _check_box(crop_box)
    if not 0.0 <= threshold <= 1.0:
        raise OptionError(f"expected a change threshold in [0, 1], got {threshold}; move the slider back into range")
    magnitude = _change(delta)
    if threshold == 0:
        return rgb.copy()
    out = _dimmed(rgb)
    level = change_level(magnitude, threshold)
    if level <= 0:
        return out  # nothing changed
    projected = _project(magnitude / level, crop_box, *rgb.shape[:2])
    if projected is not None:
        region, norm = projected
        keep = norm >= 1.0 - 1e-6
        out[region][keep] = rgb[region][keep]
    return out


def change_level(magnitude: np.ndarray, threshold: float) -> float:
    """The smallest change kept at ``threshold``: the pixels changed at least this much hold 1 - threshold of the
    total change (0 when nothing changed).
    """
    values = np.sort(np.asarray(magnitude, dtype=np.float64).ravel())[::-1]
    total = values.sum()
    if total <= 0:
        return 0.0
    index = int(np.searchsorted(np.cumsum(values), (1.0 - threshold) * total * (1 - 1e-9)))
    return float(values[min(index, values.size - 1)])


def side_by_side(panels: Sequence[np.ndarray], titles: Sequence[str]) -> np.ndarray:
    """A row of panels scaled to the smallest panel's height, each under its title, separated by white gaps."""
    if len(panels) == 0 or len(panels) != len(titles):
        raise ValueError(f"expected one title per panel and at least one panel, got {len(panels)} and {len(titles)}")
    for panel in panels:
        _check_rgb(panel)
    height = min(p.shape[0] for p in panels)
    # Titles are sized for the whole row: a browser shrinks a wide row to its column, and its text with it.
    zoom = _zoom(sum(round(p.shape[1] * height / p.shape[0]) for p in panels))
    columns: list[np.ndarray] = []
    for panel, title in zip(panels, titles, strict=True):
        w = max(1, round(panel.shape[1] * height / panel.shape[0]))
        body = Image.fromarray(panel)
        if panel.shape[0] != height:
            body = body.resize((w, height), Image.Resampling.BILINEAR)
        head = Image.new("RGB", (w, TITLE_HEIGHT * zoom), (255, 255, 255))
        ImageDraw.Draw(head).text((w // 2, head.height // 2), title, fill=(0, 0, 0), font=_font(zoom), anchor="mm")
        if columns:
            columns.append(np.full((height + TITLE_HEIGHT * zoom, 8 * zoom, 3), 255, dtype=np.uint8))
        columns.append(np.concatenate([np.asarray(head), np.asarray(body)], axis=0))
    return np.concatenate(columns, axis=1)
