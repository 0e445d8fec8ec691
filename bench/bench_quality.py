"""Scorecard cost against the explanation it checks, on the default model and skimage's coffee photo.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_quality.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from explainers import load_model, predict, prepare_image, quality, receipt, report
from explainers._quality import method_fn
from explainers.types import Explanation

METHODS = ("gradcam", "occlusion", "integrated_gradients")  # each with its default options


def median_seconds(fns: list[Callable[[], Any]], runs: int) -> list[float]:
    """Median wall time of each function; rounds interleave them so shared-CPU load hits every case alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, series in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            series.append(time.perf_counter() - start)
    return [statistics.median(series) for series in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=quality.STEPS, help="points per curve (default: the app's)")
    args = parser.parse_args()
    steps = args.steps
    torch.set_num_threads(1)
    import skimage.data

    loaded = load_model(None)
    prepared = prepare_image(loaded, skimage.data.coffee())
    image = prepared.image
    with torch.no_grad():
        loaded.model(image)  # warm-up
    maps: dict[str, Explanation] = {}

    def explain(name: str) -> Callable[[], None]:
        def run() -> None:
            maps[name] = method_fn(name)(loaded, image)  # the top-1 class, espresso

        return run

    def forward() -> None:
        with torch.no_grad():
            loaded.model(image)

    fns: list[Callable[[], Any]] = [explain(name) for name in METHODS]
    fns += [
        lambda name=name: quality.scorecard(loaded, image, maps[name], steps=steps, sanity=False) for name in METHODS
    ]
    fns += [lambda name=name: quality.scorecard(loaded, image, maps[name], steps=steps) for name in METHODS]
    fns += [lambda: quality.scorecards(loaded, image, [maps[n] for n in METHODS], steps=steps)]
    fns += [forward]
    seconds = median_seconds(fns, args.runs)
    explain_s, curves_s, full_s = seconds[:3], seconds[3:6], seconds[6:9]
    compare_s, forward_s = seconds[9], seconds[10]
    cards = quality.scorecards(loaded, image, [maps[n] for n in METHODS], steps=steps)
    prediction = predict(loaded, prepared)
    start = time.perf_counter()
    receipts = [
        receipt.build(loaded, prepared, maps[n], card, prediction=prediction).to_dict()
        for n, card in zip(METHODS, cards, strict=True)
    ]
    text = report.report(receipts[0], others=receipts[1:])
    paperwork_s = time.perf_counter() - start

    print(
        f"default model ({loaded.architecture}) on skimage coffee, torch threads = {torch.get_num_threads()}, "
        f"OMP_NUM_THREADS = {os.environ.get('OMP_NUM_THREADS')}, median of {args.runs} interleaved runs"
    )
    print(
        f"scorecard: {steps} steps on a {quality.GRID}x{quality.GRID} grid: 2 + 4 x {steps - 1} forwards for one map "
        f"(its own reference), + 2 x {steps - 1} per extra map sharing it"
    )
    header = (
        "method",
        "options",
        "explain s",
        "curves s",
        "+sanity s",
        "card s",
        "card/explain",
        "badge",
        "gain",
        "rand. rho",
    )
    print(f"one forward pass: {forward_s * 1000:.0f} ms")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for k, name in enumerate(METHODS):
        card = cards[k]
        gain = f"{card.curves.gain:+.2f}" if card.curves else "n/a"
        rho = f"{card.randomisation:.2f}" if card.randomisation is not None else "n/a"
        options = ", ".join(f"{a}={b}" for a, b in maps[name].options.items())
        print(
            f"| {name} | {options} | {explain_s[k]:.2f} | {curves_s[k]:.2f} | {full_s[k] - curves_s[k]:.2f} | "
            f"{full_s[k]:.2f} | {full_s[k] / explain_s[k]:.2f}x | {card.badge} | {gain} | {rho} |"
        )
    total_explain = sum(explain_s)
    print(
        f"| compare (all three, one call) | | {total_explain:.2f} | | | {compare_s:.2f} | "
        f"{compare_s / total_explain:.2f}x | | | |"
    )
    print(f"receipts + report: {paperwork_s * 1000:.1f} ms")
    for name, card in zip(METHODS, cards, strict=True):
        print(f"{name}: {card.badge}: {card.reason}; agreement {card.agreement}")
    print()
    print(text)


if __name__ == "__main__":
    main()
