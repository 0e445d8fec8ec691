"""Scorecard cost against the explanation it checks, on the default model and skimage's coffee photo.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_quality.py [--runs 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import common  # first: pins OpenMP to one thread and puts the repository on sys.path before torch loads

# isort: split
import torch

from explainers import predict, registry
from explainers.trust import receipt, report
from explainers.trust import scorecard as quality
from explainers.types import Explanation, LoadedModel, PreparedImage

METHODS = tuple(registry.METHODS)  # each with its explain() defaults
RUNS = 3


def forwards(steps: int, maps: int = 1) -> int:
    """Forward passes of the deletion/insertion curves for ``maps`` maps sharing one reference and random order (each
    map's own order and its blurred copy's).
    """
    return 2 + 6 * (steps - 1) + 4 * (steps - 1) * (maps - 1)


def rows(
    loaded: LoadedModel, prepared: PreparedImage, *, runs: int = RUNS, steps: int = quality.STEPS
) -> list[dict[str, Any]]:
    """One row per method (explain, its curves, its full card), one for scoring all three in one call, and one for a
    plain forward pass. Method rows also hold the explanation and its card (scored once more, untimed).
    """
    image = prepared.image
    with torch.no_grad():
        loaded.model(image)  # warm-up
    maps: dict[str, Explanation] = {}

    def explain(name: str) -> Callable[[], None]:
        def run() -> None:
            maps[name] = registry.get(name).explain(loaded, image)  # the top-1 class, espresso

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
    seconds, _ = common.median_seconds(fns, runs=runs)
    explain_s, curves_s, full_s = seconds[:3], seconds[3:6], seconds[6:9]
    compare_s, forward_s = seconds[9], seconds[10]
    cards = quality.scorecards(loaded, image, [maps[n] for n in METHODS], steps=steps)
    out: list[dict[str, Any]] = [
        {
            "kind": "method",
            "name": name,
            "steps": steps,
            "options": ", ".join(f"{a}={b}" for a, b in maps[name].options.items()),
            "explain_s": explain_s[k],
            "curves_s": curves_s[k],
            "full_s": full_s[k],
            "forwards": forwards(steps),
            "explanation": maps[name],
            "card": cards[k],
        }
        for k, name in enumerate(METHODS)
    ]
    out.append(
        {
            "kind": "compare",
            "name": "compare (all three, one call)",
            "steps": steps,
            "explain_s": sum(explain_s),
            "full_s": compare_s,
        }
    )
    out.append({"kind": "forward", "name": "one forward pass", "steps": steps, "full_s": forward_s})
    return out


def markdown(table: list[dict[str, Any]]) -> str:
    """The scorecard's cost model, one forward pass, then the rows as a markdown table."""
    steps = table[0]["steps"]
    forward_s = next(r["full_s"] for r in table if r["kind"] == "forward")
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
    lines = [
        f"scorecard: {steps} steps on a {quality.GRID}x{quality.GRID} grid: 2 + 6 x {steps - 1} forwards for one map "
        f"(its order, its blurred copy's, a random one), + 4 x {steps - 1} per extra map sharing them",
        f"one forward pass: {forward_s * 1000:.0f} ms",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for r in table:
        if r["kind"] == "method":
            card = r["card"]
            gain = f"{card.curves.gain:+.2f}" if card.curves else "n/a"
            rho = f"{card.randomisation:.2f}" if card.randomisation is not None else "n/a"
            lines.append(
                f"| {r['name']} | {r['options']} | {r['explain_s']:.2f} | {r['curves_s']:.2f} | "
                f"{r['full_s'] - r['curves_s']:.2f} | {r['full_s']:.2f} | {r['full_s'] / r['explain_s']:.2f}x | "
                f"{card.badge} | {gain} | {rho} |"
            )
        elif r["kind"] == "compare":
            lines.append(
                f"| {r['name']} | | {r['explain_s']:.2f} | | | {r['full_s']:.2f} | "
                f"{r['full_s'] / r['explain_s']:.2f}x | | | |"
            )
    return "\n".join(lines)


def paperwork(loaded: LoadedModel, prepared: PreparedImage, table: list[dict[str, Any]]) -> tuple[float, str]:
    """Seconds to build every method's receipt and the report on top of them, and that report's text."""
    methods = [r for r in table if r["kind"] == "method"]
    prediction = predict(loaded, prepared)
    start = time.perf_counter()
    receipts = [
        receipt.build(loaded, prepared, r["explanation"], r["card"], prediction=prediction).to_dict() for r in methods
    ]
    text = report.report(receipts[0], others=receipts[1:])
    return time.perf_counter() - start, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--steps", type=int, default=quality.STEPS, help="points per curve (default: the app's)")
    args = parser.parse_args()
    common.pin_threads()
    loaded, prepared = common.default_setup()
    table = rows(loaded, prepared, runs=args.runs, steps=args.steps)
    seconds, text = paperwork(loaded, prepared, table)
    print(common.header(loaded, prepared, args.runs))
    print(markdown(table))
    print(f"receipts + report: {seconds * 1000:.1f} ms")
    for r in table:
        if r["kind"] == "method":
            print(f"{r['name']}: {r['card'].badge}: {r['card'].reason}; agreement {r['card'].agreement}")
    print()
    print(text)


if __name__ == "__main__":
    main()
