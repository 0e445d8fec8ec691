"""Benchmark: how often and how fast counterfactuals reach their goal on real photos with the default model.

Cases are scikit-image's bundled photos that are CC0 or public domain (13 pictures), each as given, mirrored, and as a
centre crop of 70% (a closer framing), so 39 uploads. Two goals per upload: "any other class" and the class the model
ranks 5th. Time is wall-clock seconds per explain() call with one torch thread, after one warm-up call; CPU seconds (the
process's) are printed too, because on a shared machine wall-clock time also counts other people's work.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_counterfactual.py [--limit N] [--device cuda]
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
import numpy as np
import torch
from PIL import Image

from explainers.counterfactual import explain
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
                    "before": before.decision,
                    "after": reread,
                }
            )
    return out


def _quantile(values: list[float], q: float) -> float:
    return float(np.quantile(values, q)) if values else float("nan")


def table(results: list[dict[str, Any]]) -> str:
    """Markdown summary per goal: success rate, time to valid (median, p90), steps and the size of the change."""
    lines = [
        "| goal | cases | valid | median s to valid | p90 s to valid | median s (all) | median CPU s | median steps | "
        "median L2 | median max change (levels) | median share touched |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for goal in dict.fromkeys(r["goal"] for r in results):
        mine = [r for r in results if r["goal"] == goal]
        ok = [r for r in mine if r["valid"]]
        lines.append(
            f"| {goal} | {len(mine)} | {len(ok) / len(mine):.0%} | {_quantile([r['seconds'] for r in ok], 0.5):.2f} | "
            f"{_quantile([r['seconds'] for r in ok], 0.9):.2f} | {statistics.median(r['seconds'] for r in mine):.2f} | "
            f"{statistics.median(r['cpu'] for r in mine):.2f} | "
            f"{statistics.median(r['steps'] for r in mine):.0f} | {statistics.median(r['l2'] for r in mine):.2f} | "
            f"{statistics.median(r['linf_levels'] for r in mine):.0f} | "
            f"{statistics.median(r['touched_share'] for r in mine):.0%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N uploads (39 in all)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--cases", action="store_true", help="also print one row per case")
    args = parser.parse_args(argv)
    common.pin_threads()
    model = load_model(None, device=common.device_or_exit(args.device))
    print(
        f"torch threads: {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
        f"device: {args.device}, model: {model.architecture}, torch {torch.__version__}"
    )
    results = rows(model, limit=args.limit)
    print(table(results))
    if args.cases:
        print(
            "\n| case | goal | valid | s | steps | renders | L2 | before -> after |\n|---|---|---|---|---|---|---|---|"
        )
        for r in results:
            print(
                f"| {r['case']} | {r['target']} | {r['valid']} | {r['seconds']:.2f} | {r['steps']} | {r['renders']} "
                f"| {r['l2']:.2f} | {r['before']} -> {r['after']} |"
            )


if __name__ == "__main__":
    main()
