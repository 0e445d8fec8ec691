"""Occlusion sensitivity (Zeiler & Fergus, 2014, "Visualizing and Understanding Convolutional Networks")."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from captum.attr import Occlusion

from .. import options
from ..errors import OptionError
from ..targets import ensure_target, forward_fn, raw_score, target_outputs
from ..types import Explanation, LoadedModel, Progress, Target
from .baselines import baseline, batch_size, check_image, probe

METHOD = "occlusion"
BASELINES = ("zero", "mean", "blur")  # the fills occlusion offers, of baselines.BASELINES
MODES = ("auto", "dense", "coarse_to_fine")
# Defaults as shares of the input's shorter side, so a 96 px and a 384 px model get the same 13 x 13 grid. Chosen by
# bench/faithfulness.py (bench/RESULTS_faithfulness.md, "How the defaults were chosen"): 1/7 with 1/14 put the peak in
# the right mosaic tile 12 of 12 times (1/4: 11, 1/10: 9) and inside every planted cue at 96 and 224 px (1/4: 4 of 6),
# at ~1.0 CPU s a photo (1/10: 2.4 s). The blur fill stays: 5 of 16 photos pass, mean gain +0.22, peak on the object
# 6 of 6 (mean fill: 6, +0.20, 5 of 6; zero: 3, +0.17, 4 of 6).
WINDOW_FRACTION = 1 / 7
STRIDE_FRACTION = 1 / 14
MAX_WINDOWS = 4096  # a 64 x 64 grid: finer than any overlay shows, and ~2 min for a small CNN on one CPU thread
CLIMB_RESERVE = 8  # forwards kept for one hill-climbing step around the best window (its 3 x 3 neighbourhood)
Cell = tuple[int, int]
Box = tuple[int, int, int, int]


def explain(
    model: LoadedModel,
    image: torch.Tensor,
    *,
    target: Target | None = None,
    window: int | None = None,
    stride: int | None = None,
    window_fraction: float = WINDOW_FRACTION,
    stride_fraction: float = STRIDE_FRACTION,
    baselines: str = "blur",
    mode: str = "auto",
    progress: Progress | None = None,
) -> Explanation:
    """How much the target drops when each square window of the image is replaced by a fill.

    Args:
        model, image, target: as every method takes them (see ``explainers.methods``).
        window: side of the occluding square in input pixels; None = ``window_fraction`` of the shorter side.
        stride: step between windows in input pixels, at most ``window``; None = ``stride_fraction`` of the shorter
            side when the window is None too, else half the window.
        window_fraction: the window as a share of the shorter side, when ``window`` is None. With both fractions in
            use, the window is stretched or shrunk by less than a stride so that the windows tile the input edge to
            edge: the same grid at every input size (13 x 13 for 1/7 and 1/14: 96 px -> window 12, stride 7;
            224 -> 32, 16; 384 -> 60, 27), unless that moves the window by over a quarter (inputs under ~90 px).
        stride_fraction: the stride as a share of the shorter side, when both ``window`` and ``stride`` are None.
        baselines: the fill, one of BASELINES (see baselines.BASELINES).
        mode: "dense" evaluates every window. "coarse_to_fine" occludes blocks of k x k windows as one window, splits
            the most sensitive blocks in four, again, down to single windows, then climbs to a local maximum, all
            within a quarter of the dense forward passes; areas never refined keep their block's value scaled to one
            window's area. "auto" = dense on CUDA (batching makes every window cheap), coarse_to_fine elsewhere
            (on a CPU each window costs a full forward pass).
        progress: called with (fraction done, message).

    Returns:
        Per pixel, the mean drop of the signed target over the windows covering it (positive = the pixels support
        the target in its direction). extras: critical_box (top, left, bottom, right) of the window whose fill drops
        the target most, critical_drop, n_forwards (images the model saw, the probe included), n_windows (of the
        dense grid), perturbations_per_eval.

    Raises:
        OptionError: bad window, stride, fraction, fill or mode, or too many windows.
        TargetError: target index out of range.
    """
    start = time.perf_counter()
    check_image(image)
    h, w = image.shape[-2:]
    win, step = _check(window, stride, (window_fraction, stride_fraction), baselines, mode, h, w)
    resolved = mode if mode != "auto" else ("dense" if image.device.type == "cuda" else "coarse_to_fine")
    measured = probe(model, image)
    target = ensure_target(model, target, measured.outputs)
    grid = (_count(h, win, step), _count(w, win, step))
    ppe = batch_size(model, measured, total=grid[0] * grid[1])
    signed = target_outputs(model, measured.outputs, target)[0]
    run = _Run(forward_fn(model, target), image, baseline(model, image, baselines), signed, win, step, ppe, progress)
    notes: list[str] = []
    extras: dict[str, Any] = {}
    k, budget = _plan(grid)
    if resolved == "coarse_to_fine" and k == 0:
        notes.append(f"coarse_to_fine saves nothing on a grid of {grid[0]}x{grid[1]} windows; all were evaluated")
        resolved = "dense"
    if resolved == "dense":
        heatmap, drops = run.occlude((win, win), step, grid[0] * grid[1])
    else:
        heatmap, drops, extras = run.coarse_to_fine(grid, k, budget)
    best = np.unravel_index(int(np.nanargmax(drops)), drops.shape)
    top, left = int(best[0]) * step, int(best[1]) * step
    extras = {
        "critical_box": (top, left, min(top + win, h), min(left + win, w)),
        "critical_drop": float(drops[best]),
        "n_forwards": 1 + run.forwards,
        "n_windows": grid[0] * grid[1],
        "perturbations_per_eval": ppe,
        **extras,
    }
    return Explanation(
        method=METHOD,
        target=target,
        score=raw_score(target, measured.outputs[0]),
        heatmap=heatmap.astype(np.float32),
        options={"window": win, "stride": step, "baselines": baselines, "mode": resolved},
        timings={"probe": measured.seconds, "total": time.perf_counter() - start},
        notes=tuple(notes),
        extras=extras,
    )


class _Run:
    """One call's state: the forward function captum calls, the forwards it cost, progress."""

    def __init__(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor],
        image: torch.Tensor,
        ref: torch.Tensor,
        signed: torch.Tensor,
        win: int,
        step: int,
        ppe: int,
        progress: Progress | None,
    ) -> None:
        self.fn, self.image, self.ref, self.signed = fn, image, ref, signed
        self.win, self.step, self.ppe, self.progress = win, step, ppe, progress
        self.forwards, self.planned = 0, 1
        self.outputs: list[torch.Tensor] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not self.outputs and images.shape[0] == 1 and torch.equal(images, self.image):
            self.outputs.append(self.signed[:0])  # captum's own look at the untouched image: the probe answered it
            return self.signed
        out = self.fn(images)
        self.outputs.append(out)
        self.forwards += images.shape[0]
        if self.progress is not None:
            done = min(self.forwards, self.planned)
            self.progress(done / self.planned, f"occlusion: {done}/{self.planned} windows")
        return out

    def occlude(self, size: Cell, step: int, planned: int) -> tuple[np.ndarray, np.ndarray]:
        """Captum Occlusion with (height, width) windows: (per-pixel mean drop, drop per window (rows, cols))."""
        self.outputs, self.planned = [], planned
        attr = Occlusion(self.forward).attribute(
            self.image,
            sliding_window_shapes=(3, *size),
            strides=(3, step, step),
            baselines=self.ref,
            target=None,
            perturbations_per_eval=self.ppe,
        )
        h, w = self.image.shape[-2:]
        # captum numbers windows with the row index fastest (Occlusion._occlusion_mask), hence the transpose.
        drops = (self.signed - torch.cat(self.outputs)).view(_count(w, size[1], step), _count(h, size[0], step)).T
        return attr[0].mean(0).cpu().numpy(), drops.cpu().double().numpy()

    def evaluate(self, boxes: list[Box]) -> np.ndarray:
        """Drops for filling arbitrary boxes, ppe images per forward (the very fill captum applies)."""
        drops = []
        for i in range(0, len(boxes), self.ppe):
            chunk = boxes[i : i + self.ppe]
            batch = self.image.repeat(len(chunk), 1, 1, 1)
            for j, (t, left, b, r) in enumerate(chunk):
                batch[j, :, t:b, left:r] = self.ref[0, :, t:b, left:r]
            with torch.no_grad():
                drops.append(self.signed - self.forward(batch))
        return torch.cat(drops).cpu().double().numpy() if drops else np.zeros(0)

    def coarse_to_fine(self, grid: Cell, k: int, budget: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Blocks of k x k windows, split four ways where the drop is largest down to single windows, then a climb."""
        (rows, cols), win, step = grid, self.win, self.step
        h, w = self.image.shape[-2:]

        def box(m: int, cell: Cell) -> Box:  # the union of the m x m windows of a block
            r, c = cell[0] * m, cell[1] * m
            bottom, right = min(r + m, rows) - 1, min(c + m, cols) - 1
            return r * step, c * step, min(bottom * step + win, h), min(right * step + win, w)

        def scale(m: int) -> float:  # a block hides ~this many windows' worth of evidence
            return (min(win + (m - 1) * step, h) * min(win + (m - 1) * step, w)) / (win * win)

        block = (min(win + (k - 1) * step, h), min(win + (k - 1) * step, w))
        _, coarse = self.occlude(block, k * step, budget - 1)
        self.planned = budget - 1
        # Every window of the dense grid gets a drop: measured, else its finest measured block's, scaled to a window.
        estimate = np.kron(coarse / scale(k), np.ones((k, k)))[:rows, :cols]
        level = {(r, c): float(coarse[r, c]) for r in range(coarse.shape[0]) for c in range(coarse.shape[1])}
        spent, m = 1 + coarse.size, k
        while m > 1:
            expand = max(1, (budget - spent - CLIMB_RESERVE) // (4 * int(math.log2(m))))
            parents = sorted(level, key=lambda n: -level[n])[:expand]
            m //= 2
            children = [
                (2 * r + i, 2 * c + j)
                for r, c in parents
                for i in (0, 1)
                for j in (0, 1)
                if (2 * r + i) * m < rows and (2 * c + j) * m < cols
            ]
            level = dict(zip(children, self.evaluate([box(m, n) for n in children]).tolist(), strict=True))
            spent += len(children)
            for (r, c), drop in level.items():
                estimate[r * m : r * m + m, c * m : c * m + m] = drop / scale(m)
        while True:  # climb from the best window to a local maximum of the drop, budget permitting
            best = max(level, key=lambda n: level[n])
            around = [
                (r, c)
                for r in range(best[0] - 1, best[0] + 2)
                for c in range(best[1] - 1, best[1] + 2)
                if 0 <= r < rows and 0 <= c < cols and (r, c) not in level
            ]
            if not around or spent + len(around) > budget:
                break
            level.update(zip(around, self.evaluate([box(1, n) for n in around]).tolist(), strict=True))
            spent += len(around)
        drops = np.full((rows, cols), np.nan)
        drops[tuple(np.array(list(level)).T)] = list(level.values())
        estimate = np.where(np.isnan(drops), estimate, drops)
        cells = [(r, c) for r in range(rows) for c in range(cols)]
        heatmap = _box_map([box(1, n) for n in cells], [estimate[n] for n in cells], (h, w))
        extras = {"coarse_window": list(block), "coarse_stride": k * step, "windows_refined": len(level)}
        return heatmap, drops, extras


def _plan(grid: Cell) -> tuple[int, int]:
    """Block side k (a power of two; 0 = coarse_to_fine cannot help) and the budget: a quarter of dense's forwards."""
    rows, cols = grid
    budget = (1 + rows * cols) // 4
    k = 2
    while math.ceil(rows / k) * math.ceil(cols / k) > budget // 2 and k < max(rows, cols):
        k *= 2
    if 1 + math.ceil(rows / k) * math.ceil(cols / k) + 4 * int(math.log2(k)) > budget:
        return 0, budget
    return k, budget


def _box_map(boxes: list[Box], values: list[float], size: tuple[int, int]) -> np.ndarray:
    """Mean value over the boxes covering each pixel (captum Occlusion's average); NaN where no box does."""
    total, count = np.zeros(size), np.zeros(size)
    for (t, left, b, r), value in zip(boxes, values, strict=True):
        total[t:b, left:r] += value
        count[t:b, left:r] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _count(side: int, win: int, step: int) -> int:
    """Windows along one side, as captum places them (the last one may hang over the edge and is cut)."""
    return math.ceil((side - win) / step) + 1


def _check(
    window: Any, stride: Any, fractions: tuple[Any, Any], baselines: Any, mode: Any, h: int, w: int
) -> tuple[int, int]:
    side = min(h, w)
    win_share = options.real(fractions[0], "window_fraction", low=0, high=1, low_open=True, words="a share of the side")
    step_share = options.real(
        fractions[1], "stride_fraction", low=0, high=1, low_open=True, words="a share of the side"
    )
    if window is None and stride is None:
        if step_share > win_share:
            raise OptionError(
                f"stride_fraction ({step_share:g}) must not exceed window_fraction ({win_share:g}); windows further "
                "apart would leave pixels never occluded"
            )
        step, wanted = max(1, round(side * step_share)), max(1, round(side * win_share))
        count = round((1 - win_share) / step_share) + 1  # windows per side on an image of any size
        win = side - (count - 1) * step if count > 1 else side
        if not 0.75 * wanted <= win <= 1.25 * wanted:  # small inputs: rounding the stride moved the window too far
            win = min(side, max(step, wanted))
        return _checked(win, step, baselines, mode, h, w)
    win = max(1, round(side * win_share)) if window is None else _whole(window, "window")
    if not 1 <= win <= side:
        raise OptionError(f"window must be between 1 and {side} pixels (the {h}x{w} input's shorter side), got {win}")
    step = max(1, win // 2) if stride is None else _whole(stride, "stride")
    return _checked(win, step, baselines, mode, h, w)


def _checked(win: int, step: int, baselines: Any, mode: Any, h: int, w: int) -> tuple[int, int]:
    if not 1 <= step <= win:
        raise OptionError(
            f"stride must be between 1 and the window ({win} px), got {step}; windows further apart "
            "would leave pixels never occluded"
        )
    options.choice(baselines, "occlusion fill baselines", BASELINES)
    options.choice(mode, "occlusion mode", MODES)
    n = _count(h, win, step) * _count(w, win, step)
    if n > MAX_WINDOWS:
        ok = next((s for s in range(step, win + 1) if _count(h, win, s) * _count(w, win, s) <= MAX_WINDOWS), None)
        fix = f"use stride >= {ok}" if ok else "use a larger window and stride"
        raise OptionError(
            f"window {win} with stride {step} on a {h}x{w} input gives {n:,} windows (at most {MAX_WINDOWS:,}); {fix}"
        )
    return win, step


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise OptionError(f"{name} must be a whole number of pixels, got {value!r}")
    return int(value)
