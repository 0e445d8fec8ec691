"""Known-answer faithfulness benchmark: a method x model table of scores whose right answer is known by construction.

Three kinds of known answer, all offline:
- grid pointing game: 2x2 mosaics of bundled CC0 / public-domain photos the built-in model is confident about, each
  tile of a different class; explaining tile k's class must put the positive evidence in tile k (share of positive
  mass in that tile; hit rate of the map's peak);
- planted cues: a CNN and a timm ViT, at 96 and 224 px, that answer only to a small magenta square (tests/support/
  cues.py); the peak must fall inside the square;
- real photos: each method's own scorecard (deletion and insertion in map order, i.e. most- and least-relevant
  first: gain = AUC(LeRF) - AUC(MoRF), Blücher et al. 2024's symmetric relevance gain), against a random order and a
  blurred copy of the map; on photos with one obvious object, whether the peak lands on it.

Peaks are read on the map as shown (display.smoothed: the method's own resolution); raw-map figures follow in
brackets. Methods come from the registry as (method, options) entries, so new methods join the table by registering.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/faithfulness.py [--quick] [--entry METHOD[:k=v,...]] ...
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common  # first: pins OpenMP to one thread and puts the repository on sys.path before torch loads

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))

# isort: split
import matplotlib
import numpy as np
import skimage.data
import torch
from cues import cue_image, cue_model
from PIL import Image

from explainers import registry
from explainers.display import PIXEL_METHODS, gaussian, smoothed
from explainers.layers import candidate_layers
from explainers.methods.baselines import baseline
from explainers.models.loading import load_model
from explainers.models.preprocess import normalise, prepare_pil
from explainers.targets import resolve_target
from explainers.trust import scorecard as quality
from explainers.types import Explanation, LoadedModel, Target

ROOT = Path(__file__).resolve().parents[1]
Entry = tuple[str, dict[str, Any]]
# Mosaic tiles: photos whose centre square, at half the model's input, the built-in model names with >= 0.3
# probability, each a different class (tripod 0.92, Egyptian cat 0.52, drilling platform 0.48, espresso 0.46,
# bobsled 0.35, golf ball 0.35).
TILES = ("camera", "chelsea", "rocket", "coffee", "astronaut", "coins")
MIN_TILE_PROBABILITY = 0.3
EXAMPLES = ("astronaut", "chelsea", "coffee", "rocket")  # examples/*.jpg, the app's bundled examples
# skimage.data photos whose docstrings say CC0 / public domain / no copyright restrictions, and matplotlib's
# grace_hopper.jpg (a U.S. Navy photograph, public domain).
MORE_PHOTOS = (
    "camera", "coins", "hubble_deep_field", "clock", "immunohistochemistry", "retina", "brick", "grass", "gravel",
    "cell", "text", "grace_hopper",
)  # fmt: skip
# Photos with one obvious object: its box (left, top, right, bottom) as shares of the original picture, by eye.
OBJECTS = {
    "coffee": (0.25, 0.0, 0.75, 0.65),  # the cup
    "camera": (0.43, 0.1, 0.8, 1.0),  # the camera on its tripod
    "rocket": (0.44, 0.3, 0.6, 1.0),  # the rocket
    "clock": (0.33, 0.3, 0.63, 0.72),  # the clock
    "cell": (0.6, 0.42, 0.9, 0.68),  # the cell
    "grace_hopper": (0.1, 0.07, 0.9, 1.0),  # the person
}
CUE_MODELS = (("cnn", 96), ("vit", 96), ("cnn", 224), ("vit", 224))
# What the photo table reads off each map's curves (curves.Curves' properties).
CURVE_FIGURES = ("gain", "blurred_gain", "random_gain", "deletion_auc", "least_relevant_first_auc")


def registry_entries() -> list[Entry]:
    """Every registered method with its own defaults: the table's rows unless ``--entry`` names others."""
    return [(name, {}) for name in registry.names()]


def parse_entry(text: str) -> Entry:
    """``method`` or ``method:key=value,key=value`` (numbers parsed, ``none`` = None) -> (method, options)."""
    name, _, rest = text.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        options[key] = _value(value)
    registry.get(name)  # an unknown method fails here, before any work
    return name, options


def _value(text: str) -> Any:
    if text.lower() == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if "/" in text:
        top, bottom = text.split("/")
        return float(top) / float(bottom)
    return text


def entry_label(entry: Entry) -> str:
    """The entry as a table row name: the method's label and any options beyond its defaults."""
    name, options = entry
    extra = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in options.items())
    return registry.label(name) + (f" ({extra})" if extra else "")


def explain(model: LoadedModel, image: torch.Tensor, entry: Entry, target: Target | None) -> tuple[Explanation, float]:
    """The entry's map of the target and the CPU seconds it took (this process's: on a shared machine wall time also
    counts other people's work, and torch runs on one thread here).
    """
    name, options = entry
    start = time.process_time()
    result = registry.get(name).explain(model, image, target=target, **options)
    return result, time.process_time() - start


def peak(values: np.ndarray) -> tuple[int, int]:
    """(row, col) of the maximum."""
    r, c = np.unravel_index(int(np.argmax(values)), values.shape)
    return int(r), int(c)


# --- pictures -------------------------------------------------------------------------------------------------------


def picture(name: str) -> Image.Image:
    """An RGB picture by name: the app's examples/*.jpg, matplotlib's grace_hopper.jpg, else skimage.data."""
    if name in EXAMPLES:
        return Image.open(ROOT / "examples" / f"{name}.jpg").convert("RGB")
    if name == "grace_hopper":
        return Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")
    array = np.asarray(getattr(skimage.data, name)())
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return Image.fromarray(array[..., :3].astype(np.uint8))


def _square(pil: Image.Image, side: int) -> np.ndarray:
    w, h = pil.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return np.asarray(pil.crop((left, top, left + s, top + s)).resize((side, side), Image.Resampling.BICUBIC))


@dataclass(frozen=True)
class Mosaic:
    """A 2x2 mosaic at the model's input size: image (1, 3, h, w) and, per tile, its photo, target and box."""

    image: torch.Tensor
    tiles: tuple[tuple[str, Target, tuple[int, int, int, int]], ...]


def tile_targets(model: LoadedModel, names: Sequence[str] = TILES) -> dict[str, tuple[Target, float]]:
    """Each tile's class: the model's top-1 on the tile alone (the tile as the model sees it in a mosaic, upscaled)."""
    h, w = model.input_size
    out = {}
    for name in names:
        tile = torch.tensor(_square(picture(name), h // 2) / 255.0, dtype=torch.float32).permute(2, 0, 1)[None]
        tile = torch.nn.functional.interpolate(tile, size=(h, w), mode="bilinear", align_corners=False)
        with torch.no_grad():
            p = model.model(normalise(model, tile).to(model.device)).softmax(1)[0]
        index = int(p.argmax())
        out[name] = (resolve_target(model, index), float(p[index]))
    return out


def mosaics(model: LoadedModel, limit: int | None = None) -> list[Mosaic]:
    """Every 4 of the 6 tiles (15 mosaics), each mosaic's tiles rotated one place further than the last."""
    h, w = model.input_size
    classes = tile_targets(model)
    weak = {n: p for n, (_, p) in classes.items() if p < MIN_TILE_PROBABILITY}
    if weak or len({t.index for t, _ in classes.values()}) < len(classes):
        raise SystemExit(f"tiles must be confident and of different classes; got {classes}")
    squares = {n: _square(picture(n), h // 2) for n in TILES}
    out = []
    for k, combo in enumerate(itertools.combinations(TILES, 4)):
        order = combo[k % 4 :] + combo[: k % 4]
        pixels = np.zeros((h, w, 3), np.float32)
        tiles = []
        for q, name in enumerate(order):
            top, left = (q // 2) * (h // 2), (q % 2) * (w // 2)
            pixels[top : top + h // 2, left : left + w // 2] = squares[name] / 255.0
            tiles.append((name, classes[name][0], (top, left, top + h // 2, left + w // 2)))
        image = normalise(model, torch.from_numpy(pixels).permute(2, 0, 1)[None]).to(model.device)
        out.append(Mosaic(image, tuple(tiles)))
    return out[:limit]


# --- the three benchmarks -------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one entry scored on one benchmark (lists of per-case values)."""

    shown_hits: list[bool] = field(default_factory=list)
    raw_hits: list[bool] = field(default_factory=list)
    shown_mass: list[float] = field(default_factory=list)
    raw_mass: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    badges: list[str] = field(default_factory=list)
    rho: list[float] = field(default_factory=list)
    curves: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in CURVE_FIGURES})
    readings: dict[str, list[float]] = field(default_factory=dict)


def _in(box: tuple[int, int, int, int], rc: tuple[int, int]) -> bool:
    top, left, bottom, right = box
    return top <= rc[0] < bottom and left <= rc[1] < right


def _mass(values: np.ndarray, box: tuple[int, int, int, int]) -> float:
    positive = np.maximum(values, 0.0)
    top, left, bottom, right = box
    total = float(positive.sum())
    return float(positive[top:bottom, left:right].sum()) / total if total > 0 else 0.0


# Other ways to read a per-pixel map on the mosaics (--readings): Gaussian sigma as a share of the shorter side (the
# display's is display.PIXEL_SIGMA_FRACTION = 1/56), and mass of |map| rather than of its positive part.
READING_SIGMAS = (0.0, 1 / 56, 1 / 28, 1 / 14)


def readings(values: np.ndarray, box: tuple[int, int, int, int]) -> dict[str, float]:
    """Peak hit, positive mass and |mass| in the box at each of READING_SIGMAS."""
    out = {}
    for fraction in READING_SIGMAS:
        shown = gaussian(values, fraction * min(values.shape))
        key = f"1/{round(1 / fraction)}" if fraction else "0"
        out[f"hit {key}"] = float(_in(box, peak(shown)))
        out[f"mass {key}"] = _mass(shown, box)
        out[f"|mass| {key}"] = _mass(np.abs(shown), box)
    return out


def grid_pointing(model: LoadedModel, entries: Sequence[Entry], limit: int | None = None) -> dict[str, Tally]:
    """Each entry on each tile of each mosaic: hit of the peak, share of positive mass in the right tile; per-pixel
    methods also at READING_SIGMAS and on |map| (Tally.readings).
    """
    tallies = {entry_label(e): Tally() for e in entries}
    for mosaic in mosaics(model, limit):
        for _, target, box in mosaic.tiles:
            for entry in entries:
                result, seconds = explain(model, mosaic.image, entry, target)
                shown = smoothed(result)
                t = tallies[entry_label(entry)]
                t.shown_hits.append(_in(box, peak(shown)))
                t.raw_hits.append(_in(box, peak(result.heatmap)))
                t.shown_mass.append(_mass(shown, box))
                t.raw_mass.append(_mass(result.heatmap, box))
                t.seconds.append(seconds)
                if result.method in PIXEL_METHODS:
                    for key, value in readings(result.heatmap, box).items():
                        t.readings.setdefault(key, []).append(value)
    return tallies


def readings_table(entries: Sequence[Entry], mosaic: dict[str, Tally]) -> str:
    """Per-pixel entries on the mosaics at each smoothing: peak hit, positive mass share, |map| mass share."""
    keys = [f"1/{round(1 / f)}" if f else "0" for f in READING_SIGMAS]
    header = ["method", *(f"sigma {k}: hit / mass / abs mass" for k in keys)]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * len(keys) + "|"]
    for label in map(entry_label, entries):
        r = mosaic[label].readings
        if r:
            cells = [f"{_rate(r[f'hit {k}'])} / {_pct(r[f'mass {k}'])} / {_pct(r[f'|mass| {k}'])}" for k in keys]
            lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(lines)


def planted(
    entries: Sequence[Entry], models: Sequence[tuple[str, int]] = CUE_MODELS, seeds: int = 20
) -> dict[tuple[str, int], dict[str, Tally]]:
    """Each entry on each planted-cue model and seed: is the peak inside the cue?"""
    out: dict[tuple[str, int], dict[str, Tally]] = {}
    for kind, size in models:
        model = cue_model(kind, size)
        tallies = {entry_label(e): Tally() for e in entries}
        for seed in range(seeds):
            image, box = cue_image(size, seed)
            target = resolve_target(model, 0)
            for entry in entries:
                result, seconds = explain(model, image, entry, target)
                t = tallies[entry_label(entry)]
                t.shown_hits.append(_in(box, peak(smoothed(result))))
                t.raw_hits.append(_in(box, peak(result.heatmap)))
                t.seconds.append(seconds)
        out[(kind, size)] = tallies
    return out


def gradcam_layers(model: LoadedModel, limit: int | None = None, seeds: int = 20) -> list[tuple[str, str, str]]:
    """Grad-CAM on every candidate layer: the built-in model on the mosaics, the planted ViT and CNN at 224 px on their
    cues; (model, layer, "hit rate (mass share)"), the default layer first, as layers.candidate_layers lists them.
    """
    rows = []
    tiles = [(m.image, target, box) for m in mosaics(model, limit) for _, target, box in m.tiles]
    cases: list[tuple[str, LoadedModel, list[tuple[torch.Tensor, Target, tuple[int, int, int, int]]]]] = [
        (f"built-in {model.architecture}, mosaics", model, tiles)
    ]
    for kind in ("vit", "cnn"):
        cue = cue_model(kind, 224)
        pictures = [cue_image(224, seed) for seed in range(seeds)]
        cases.append((f"planted {kind} 224 px, cues", cue, [(x, resolve_target(cue, 0), b) for x, b in pictures]))
    for title, net, items in cases:
        for choice in candidate_layers(net):
            hits, shares = [], []
            for image, target, box in items:
                result, _ = explain(net, image, ("gradcam", {"layer": choice.key}), target)
                hits.append(_in(box, peak(result.heatmap)))
                shares.append(_mass(result.heatmap, box))
            rows.append((title, choice.key, f"{np.mean(hits):.2f} ({100 * np.mean(shares):.0f}%)"))
    return rows


def photo_names() -> list[str]:
    """The bundled examples, then the further CC0 / public-domain photos."""
    return [*EXAMPLES, *MORE_PHOTOS]


def photos(
    model: LoadedModel, entries: Sequence[Entry], names: Sequence[str] | None = None, *, steps: int = quality.STEPS
) -> dict[str, Tally]:
    """Each entry's own scorecard on each photo (top-1 class), and on object photos whether the peak is on it."""
    tallies = {entry_label(e): Tally() for e in entries}
    for name in names or photo_names():
        pil = picture(name)
        prepared = prepare_pil(model, pil)
        maps, times = zip(*(explain(model, prepared.image, e, None) for e in entries), strict=True)
        cards = quality.scorecards(model, prepared.image, list(maps), steps=steps)
        for entry, result, seconds, card in zip(entries, maps, times, cards, strict=True):
            t = tallies[entry_label(entry)]
            t.seconds.append(seconds)
            t.badges.append(card.badge)
            if card.randomisation is not None:
                t.rho.append(card.randomisation)
            for key in CURVE_FIGURES if card.curves is not None else ():
                t.curves[key].append(getattr(card.curves, key) or 0.0)
            if name in OBJECTS:
                box = _object_box(OBJECTS[name], prepared.crop_box, pil.size, result.heatmap.shape)
                t.shown_hits.append(_in(box, peak(smoothed(result))))
                t.raw_hits.append(_in(box, peak(result.heatmap)))
            curves = card.curves
            print(
                f"{name}: {entry_label(entry)}: {card.badge}, {seconds:.2f} CPU s"
                + (f", gain {curves.gain:+.2f}, blurred {curves.blurred_gain:+.2f}" if curves else "")
                + (f", object {t.shown_hits[-1]}" if name in OBJECTS else ""),
                file=sys.stderr,
                flush=True,
            )
    return tallies


def photo_facts(model: LoadedModel, names: Sequence[str] | None = None) -> list[str]:
    """Per photo, what the scorecard has to work with: the top-1 class and probability, the runner-up's, and the
    top-1 logit on the photo and on the scorecard's blur reference (their difference is the span the curves move in).
    """
    rows = []
    for name in names or photo_names():
        image = prepare_pil(model, picture(name)).image
        with torch.no_grad():
            logits = model.model(torch.cat([image, baseline(model, image, quality.DEFAULT_BASELINES)]))
        p = logits[0].softmax(0)
        top = torch.topk(p, 2)
        first = int(top.indices[0])
        on_image, on_blur = float(logits[0, first]), float(logits[1, first])
        rows.append(
            f"| {name} | {resolve_target(model, first).name} | {float(top.values[0]):.2f} | "
            f"{float(top.values[1]):.2f} | {on_image:.1f} | {on_blur:.1f} | {on_image - on_blur:+.1f} |"
        )
    return rows


def _object_box(
    share: tuple[float, float, float, float],
    crop: Sequence[float],
    size: tuple[int, int],
    hw: tuple[int, ...],
) -> tuple[int, int, int, int]:
    """An object box given as shares of the original picture, in model-input pixels (top, left, bottom, right)."""
    (width, height), (h, w) = size, hw[:2]
    left, top, right, bottom = crop
    x0, y0, x1, y1 = share[0] * width, share[1] * height, share[2] * width, share[3] * height
    sx, sy = w / (right - left), h / (bottom - top)
    return (
        max(0, round((y0 - top) * sy)),
        max(0, round((x0 - left) * sx)),
        min(h, round((y1 - top) * sy)),
        min(w, round((x1 - left) * sx)),
    )


# --- report ---------------------------------------------------------------------------------------------------------


def _rate(values: Sequence[bool]) -> str:
    return f"{np.mean(values):.2f}" if values else "—"


def _pct(values: Sequence[float]) -> str:
    return f"{100 * np.mean(values):.0f}%" if values else "—"


def _mean(values: Sequence[float]) -> str:
    return f"{np.mean(values):+.2f}" if values else "—"


def markdown(
    entries: Sequence[Entry],
    mosaic: dict[str, Tally] | None,
    cues: dict[tuple[str, int], dict[str, Tally]] | None,
    photo: dict[str, Tally] | None,
) -> str:
    """The method x model table, then the photo scorecard detail."""
    header = ["method"]
    if mosaic:
        header += ["mosaic: peak hit", "mosaic: mass in tile"]
    for kind, size in cues or {}:
        header.append(f"cue {kind.upper() if kind == 'cnn' else 'ViT'} {size}px: peak in cue")
    if photo:
        header += ["photos: scorecard pass", "object: peak on it", "median CPU s (photos)"]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for label in map(entry_label, entries):
        row = [label]
        if mosaic:
            t = mosaic[label]
            row += [f"{_rate(t.shown_hits)} ({_rate(t.raw_hits)})", f"{_pct(t.shown_mass)} ({_pct(t.raw_mass)})"]
        for tallies in (cues or {}).values():
            t = tallies[label]
            row.append(f"{_rate(t.shown_hits)} ({_rate(t.raw_hits)})")
        if photo:
            t = photo[label]
            passed = sum(b == "pass" for b in t.badges)
            row += [
                f"{passed}/{len(t.badges)} ({100 * passed / max(1, len(t.badges)):.0f}%)",
                f"{_rate(t.shown_hits)} ({_rate(t.raw_hits)})",
                f"{statistics.median(t.seconds):.2f}",
            ]
        lines.append("| " + " | ".join(row) + " |")
    text = "\n".join(lines)
    if photo:
        detail = [
            "| method | gain: AUC(LeRF) - AUC(MoRF) | blurred copy's gain | random order's gain | MoRF AUC | LeRF AUC "
            "| badges (pass/warn/fail) | randomisation rho |",
            "|---|---:|---:|---:|---:|---:|---|---:|",
        ]
        for label in map(entry_label, entries):
            t = photo[label]
            badges = "/".join(str(t.badges.count(b)) for b in ("pass", "warn", "fail"))
            rho = f"{np.median(t.rho):.2f}" if t.rho else "—"
            c = t.curves
            figures = [_mean(c[k]) for k in CURVE_FIGURES[:3]] + [_mean(c[k]).lstrip("+") for k in CURVE_FIGURES[3:]]
            detail.append(f"| {label} | {' | '.join(figures)} | {badges} | {rho} |")
        text += "\n\nPhotos, per method (means over the photos whose reference scores below the image):\n\n"
        text += "\n".join(detail)
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entry", action="append", type=parse_entry, help="METHOD[:k=v,...]; default: the registry")
    parser.add_argument("--quick", action="store_true", help="4 mosaics, 6 seeds, 8 photos")
    parser.add_argument("--mosaics", type=int, help="first N of the 15 mosaics")
    parser.add_argument("--seeds", type=int, default=20, help="planted-cue images per model")
    parser.add_argument("--photos", help="comma-separated photo names (default: all 16)")
    parser.add_argument("--parts", default="mosaic,planted,photos,layers", help="which benchmarks to run")
    args = parser.parse_args(argv)
    common.pin_threads()
    entries = args.entry or registry_entries()
    parts = set(args.parts.split(","))
    limit, seeds = (4, 6) if args.quick else (args.mosaics, args.seeds)
    names = args.photos.split(",") if args.photos else (photo_names()[:8] if args.quick else None)
    started, load = time.perf_counter(), os.getloadavg()
    model = load_model(None)
    command = " ".join(["python bench/faithfulness.py", *(sys.argv[1:] if argv is None else argv)])
    print(f"# Faithfulness benchmark\n\n`OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} {command}`\n")
    mosaic = grid_pointing(model, entries, limit) if "mosaic" in parts else None
    cues = planted(entries, seeds=seeds) if "planted" in parts else None
    photo = photos(model, entries, names) if "photos" in parts else None
    layers = gradcam_layers(model, limit, seeds) if "layers" in parts else None
    facts = photo_facts(model, names) if "facts" in parts else None
    print(
        f"built-in model {model.architecture}, torch threads {torch.get_num_threads()}; load average (1, 5, 15 min) "
        f"{', '.join(f'{x:.2f}' for x in load)} at start, {', '.join(f'{x:.2f}' for x in os.getloadavg())} at end; "
        f"{time.perf_counter() - started:.0f} s\n"
    )
    if mosaic or cues or photo:
        print(markdown(entries, mosaic, cues, photo))
    if mosaic and any(t.readings for t in mosaic.values()):
        print(
            "\nPer-pixel maps on the mosaics read at other smoothings (Gaussian sigma as a share of the side; the "
            "display's is 1/56): peak hit / positive mass in the tile / |map| mass in the tile\n"
        )
        print(readings_table(entries, mosaic))
    if facts:
        print(
            "\nPhotos: the model's top-1 class, its probability and the runner-up's, and the top-1 logit on the photo "
            "and on the scorecard's blur reference\n"
        )
        print("| photo | top-1 | p | runner-up p | logit | on blur | span |\n|---|---|---:|---:|---:|---:|---:|")
        print("\n".join(facts))
    if layers:
        print("\nGrad-CAM by layer (the default first): peak hit rate (positive mass in the right tile or cue)\n")
        print("| model | layer | peak hit (mass) |\n|---|---|---:|")
        print("\n".join(f"| {a} | {b} | {c} |" for a, b, c in layers))


if __name__ == "__main__":
    main()
