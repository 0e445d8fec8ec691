"""Benchmark: how often, how fast and how small counterfactuals are, on real photos and on planted cue models.

Photos: scikit-image's bundled photos that are CC0 or public domain (13 pictures), each as given, mirrored, and as a
centre crop of 70% (a closer framing), so 39 uploads. Two goals per upload: "any other class" and the class the model
ranks 5th. Time is wall-clock seconds per explain() call with one torch thread, after one warm-up call; CPU seconds (the
process's) are printed too, because on a shared machine wall-clock time also counts other people's work; so is the
load average. The size of the first valid edit (what the search returned before the sparsity phase) is compared with
the final one.

Planted cues (tests/support/planted.py): a two-output regression whose outputs each read one 24 x 24 box of a 64 x 64
input (14% of the picture), and a two-class classifier whose "evidence" reads one such box. Uploads of three shapes
(the input size; 80 x 64 with timm's centre crop; 320 x 256, so the trip through the upload blurs), six noise photos
each. Regression goals move "a" by +-0.3 or +-0.6 g (± 0.03) while holding "b" ± 0.02 g; classifier goals flip the
class. Each case runs three ways: the first valid edit alone (shrink_steps=0: the search as it was before the sparsity
phase), the defaults (2 s budget) and the sparsity phase by steps alone (budget=None).

Batch: every other top-5 class of the first uploads as one explain_many call.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_counterfactual.py [--limit N] [--device cuda] [--cases]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from typing import Any

import common  # first: pins OpenMP to one thread and puts the repository on sys.path before torch loads

# isort: split
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from explainers.counterfactual import explain, explain_many, other_classes, success_rate
from explainers.models.loading import load_model
from explainers.models.predict import predict
from explainers.models.preprocess import prepare_pil
from explainers.types import LoadedModel

# skimage.data photos whose docstrings say CC0 or public domain ("cat" is chelsea; "moon" states no licence).
PHOTOS = (
    "astronaut",
    "camera",
    "cat",
    "coffee",
    "coins",
    "rocket",
    "hubble_deep_field",
    "clock",
    "immunohistochemistry",
    "retina",
    "brick",
    "grass",
    "gravel",
)
GOALS = ("any other class", "5th-ranked class")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
from planted import CUE_BOXES, cue_classifier, cue_regressor, noise_photo, share_inside  # noqa: E402

UPLOADS = {"64 x 64": (64, 64), "80 x 64, cropped": (80, 64), "320 x 256, cropped": (320, 256)}
SEEDS = range(6)
MOVES = (0.3, -0.3, 0.6, -0.6)
CONFIGS = {
    "first valid edit (shrink_steps=0)": {"shrink_steps": 0},
    "defaults (budget 2 s)": {},
    "budget=None": {"budget": None},
}


def cases() -> Iterator[tuple[str, Image.Image]]:
    """(name, RGB picture) for every photo as given, mirrored, and centre-cropped to 70%."""
    from skimage import data

    for name in PHOTOS:
        array = np.asarray(getattr(data, name)())
        if array.ndim == 2:  # grayscale photos, as a phone would save them
            array = np.repeat(array[..., None], 3, axis=2)
        picture = Image.fromarray(array[..., :3].astype(np.uint8))
        yield name, picture
        yield f"{name} mirrored", picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        w, h = picture.size
        yield f"{name} crop", picture.crop((int(w * 0.15), int(h * 0.15), int(w * 0.85), int(h * 0.85)))


def rows(
    model: LoadedModel | None = None, *, limit: int | None = None, goals: tuple[str, ...] = GOALS, **options: Any
) -> list[dict[str, Any]]:
    """One row per (upload, goal): validity, seconds, steps and the size of the change.

    Args:
        model: defaults to the built-in model.
        limit: only the first uploads.
        goals: "any other class" and/or "5th-ranked class".
        **options: passed to counterfactual.explain (l2, l1, tv, max_steps, restarts, ...).
    """
    model = model or load_model(None)
    out: list[dict[str, Any]] = []
    warmed = False
    for i, (name, picture) in enumerate(cases()):
        if limit is not None and i >= limit:
            break
        prepared = prepare_pil(model, picture)
        before = predict(model, prepared)
        for goal in goals:
            text = before.top[4][0] if goal == "5th-ranked class" else goal
            if not warmed:  # the first call pays for lazy initialisation; keep it out of the timings
                explain(model, prepared, goal=text, **options)
                warmed = True
            start, cpu = time.perf_counter(), time.process_time()
            result = explain(model, prepared, goal=text, **options)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            reread = predict(model, prepare_pil(model, Image.fromarray(result.rgb))).decision
            out.append(
                {
                    "case": name,
                    "goal": goal,
                    "target": text,
                    "valid": result.valid,
                    "seconds": seconds,
                    "cpu": cpu,
                    "steps": result.metrics["steps"],
                    "renders": result.metrics["renders"],
                    "l2": result.metrics["l2"],
                    "linf_levels": result.metrics["linf_levels"],
                    "touched_share": result.metrics["touched_share"],
                    "l1": result.metrics["l1"],
                    "first_l1": result.metrics["first_valid"]["l1"] if result.valid else float("nan"),
                    "first_touched": result.metrics["first_valid"]["touched_share"] if result.valid else float("nan"),
                    "shrink_steps": result.metrics["shrink"]["steps"],
                    "before": before.decision,
                    "after": reread,
                }
            )
    return out


def _quantile(values: list[float], q: float) -> float:
    return float(np.quantile(values, q)) if values else float("nan")


def table(results: list[dict[str, Any]]) -> str:
    """Markdown summary per goal: success rate, time to valid (median, p90), steps, the size of the change.

    Also how much the sparsity phase shrank the first valid edit: the median of final L1 / first valid L1 over valid
    cases.
    """
    lines = _header(
        "goal", "cases", "valid", "median s to valid", "p90 s to valid", "median s (all)", "median CPU s",
        "median steps", "median L2", "median max change (levels)", "median share touched (first valid -> final)",
        "median L1 (first valid -> final)", "median L1 final / first", "shrink steps (median)",
    )  # fmt: skip
    for goal in dict.fromkeys(r["goal"] for r in results):
        mine = [r for r in results if r["goal"] == goal]
        ok = [r for r in mine if r["valid"]]
        lines.append(
            f"| {goal} | {len(mine)} | {len(ok) / len(mine):.0%} | {_quantile([r['seconds'] for r in ok], 0.5):.2f} | "
            f"{_quantile([r['seconds'] for r in ok], 0.9):.2f} | {statistics.median(r['seconds'] for r in mine):.2f} | "
            f"{statistics.median(r['cpu'] for r in mine):.2f} | "
            f"{statistics.median(r['steps'] for r in mine):.0f} | {statistics.median(r['l2'] for r in mine):.2f} | "
            f"{statistics.median(r['linf_levels'] for r in mine):.0f} | "
            f"{_quantile([r['first_touched'] for r in ok], 0.5):.0%} -> "
            f"{_quantile([r['touched_share'] for r in ok], 0.5):.1%} | "
            f"{_quantile([r['first_l1'] for r in ok], 0.5):.1f} -> {_quantile([r['l1'] for r in ok], 0.5):.1f} | "
            f"{_quantile([r['l1'] / r['first_l1'] for r in ok], 0.5):.2f} | "
            f"{statistics.median(r['shrink_steps'] for r in mine):.0f} |"
        )
    return "\n".join(lines)


def planted_rows(*, seeds: range = SEEDS) -> list[dict[str, Any]]:
    """One row per (model, upload, goal, configuration) on the planted cue models."""
    out: list[dict[str, Any]] = []
    for kind, make in (("regression", cue_regressor), ("classifier", cue_classifier)):
        base = make()
        for upload, size in UPLOADS.items():
            crop = {"crop_pct": 0.875} if size != (64, 64) else {}
            model = dataclasses.replace(base, data_config={**base.data_config, **crop})
            for seed in seeds:
                prepared = prepare_pil(model, noise_photo(seed, size))
                before = predict(model, prepared)
                if kind == "classifier":
                    goals = ["other" if before.decision == "evidence" else "evidence"]
                else:
                    goals = [f"a = {before.scores[0] + m:.4f} ± 0.03 g; hold b ± 0.02 g" for m in MOVES]
                for goal in goals:
                    for config, options in CONFIGS.items():
                        start = time.perf_counter()
                        result = explain(model, prepared, goal=goal, **options)
                        seconds = time.perf_counter() - start
                        again = predict(model, prepare_pil(model, Image.fromarray(result.rgb)))
                        held = kind == "classifier" or abs(again.scores[1] - before.scores[1]) <= 0.02
                        out.append(
                            {
                                "model": kind,
                                "upload": upload,
                                "goal": goal,
                                "config": config,
                                "valid": result.valid,
                                "held": held,
                                "inside": share_inside(result.delta, CUE_BOXES[0]),
                                "touched_share": result.metrics["touched_share"],
                                "changed_share": result.metrics["changed_share"],
                                "l1": result.metrics["l1"],
                                "seconds": seconds,
                                "stopped": result.metrics["shrink"]["stopped"],
                            }
                        )
    return out


def planted_table(results: list[dict[str, Any]]) -> str:
    """Markdown per (model, configuration): validity, held band, change mass inside the cue, share of pixels changed."""
    lines = _header(
        "model", "run", "cases", "valid", "held output in band", "change mass inside the cue: median (min)",
        "cases >= 70% inside", "pixels touched (>= 1 level): median (max)", "pixels changed (> 2 levels): median (max)",
        "cases <= 20% touched", "median L1", "median s", "cut by the budget",
    )  # fmt: skip
    for model in dict.fromkeys(r["model"] for r in results):
        for config in CONFIGS:
            mine = [r for r in results if r["model"] == model and r["config"] == config]
            n = len(mine)
            inside = [r["inside"] for r in mine]
            touched = [r["touched_share"] for r in mine]
            changed = [r["changed_share"] for r in mine]
            lines.append(
                f"| {model} | {config} | {n} | {sum(r['valid'] for r in mine) / n:.0%} | "
                f"{sum(r['held'] for r in mine) / n:.0%} | {statistics.median(inside):.0%} ({min(inside):.0%}) | "
                f"{sum(i >= 0.7 for i in inside) / n:.0%} | {statistics.median(touched):.0%} ({max(touched):.0%}) | "
                f"{statistics.median(changed):.0%} ({max(changed):.0%}) | {sum(t <= 0.2 for t in touched) / n:.0%} | "
                f"{statistics.median(r['l1'] for r in mine):.1f} | "
                f"{statistics.median(r['seconds'] for r in mine):.2f} | "
                f"{sum(r['stopped'] == 'budget' for r in mine)} |"
            )
    return "\n".join(lines)


def batch_rows(model: LoadedModel, *, limit: int = 6) -> list[dict[str, Any]]:
    """Every other top-5 class of the first uploads, one explain_many call each."""
    out: list[dict[str, Any]] = []
    for i, (name, picture) in enumerate(cases()):
        if i >= limit:
            break
        prepared = prepare_pil(model, picture)
        goals = other_classes(predict(model, prepared), 5)
        start = time.perf_counter()
        results = explain_many(model, prepared, goals=goals)
        seconds = time.perf_counter() - start
        out.append(
            {
                "case": name,
                "goals": len(goals),
                "success": success_rate(results),
                "seconds": seconds,
                "results": [
                    (g.name, r.valid, r.metrics["l1"], r.metrics["touched_share"])
                    for g, r in zip(goals, results, strict=True)
                ],
            }
        )
    return out


def batch_table(results: list[dict[str, Any]]) -> str:
    """Markdown: one line per upload with its success rate and each goal's validity and size."""
    lines = [
        "| upload | goals | success rate | s (one call) | each goal: valid, L1, touched |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        each = "; ".join(f"{n}: {'ok' if v else 'no'}, {l1:.1f}, {t:.1%}" for n, v, l1, t in r["results"])
        lines.append(f"| {r['case']} | {r['goals']} | {r['success']:.0%} | {r['seconds']:.1f} | {each} |")
    return "\n".join(lines)


def _header(*columns: str) -> list[str]:
    """A markdown table's first two lines."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min) on {os.cpu_count()} CPUs"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N uploads (39 in all)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--cases", action="store_true", help="also print one row per case")
    parser.add_argument("--batch", type=int, default=6, help="uploads in the batch table (explain_many)")
    args = parser.parse_args(argv)
    common.pin_threads()
    model = load_model(None, device=common.device_or_exit(args.device))
    print(
        f"torch threads: {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
        f"device: {args.device}, model: {model.architecture}, torch {torch.__version__}"
    )
    print(f"photos, before: {_load()}")
    results = rows(model, limit=args.limit)
    print(f"photos, after: {_load()}\n")
    print(table(results))
    print(f"\nplanted cues, before: {_load()}")
    planted = planted_rows()
    print(f"planted cues, after: {_load()}\n")
    print(planted_table(planted))
    print(f"\nbatch (explain_many, every other top-5 class), before: {_load()}")
    batch = batch_rows(model, limit=args.batch)
    print(f"batch, after: {_load()}\n")
    print(batch_table(batch))
    if args.cases:
        columns = ("case", "goal", "valid", "s", "steps", "renders", "shrink steps", "L1 first -> final", "L2")
        print("\n" + "\n".join(_header(*columns, "before -> after")))
        for r in results:
            print(
                f"| {r['case']} | {r['target']} | {r['valid']} | {r['seconds']:.2f} | {r['steps']} | {r['renders']} "
                f"| {r['shrink_steps']} | {r['first_l1']:.1f} -> {r['l1']:.1f} | {r['l2']:.2f} "
                f"| {r['before']} -> {r['after']} |"
            )


if __name__ == "__main__":
    main()
