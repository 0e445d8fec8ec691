"""End to end through gradio_client against the real server (python app.py, OMP_NUM_THREADS=1): time to the first
map and to the scorecard for each method, Compare's panels, the scorecard's cost against the maps, the verdicts with
and without the scorecard's reuse and early stopping, and 32 concurrent mixed callers against the same calls alone.

Each round sends a fresh copy of the coffee photo (one pixel changed, so no cache has seen it) through predict,
Grad-CAM (the first map of the photo: the scorecard computes the photo's random-order reference), Grad-CAM for
another target, occlusion and integrated gradients (which reuse that reference), and Compare with all three methods.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/e2e.py [--rounds 3] [--out bench/RESULTS_e2e.md]
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import csv
import datetime
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common  # first: pins OpenMP to one thread and puts the repository on sys.path before torch loads

# isort: split
sys.path.insert(0, str(common.ROOT / "tests" / "support"))

import numpy as np
import torch
from gradio_client import Client, handle_file
from helpers_app import PHOTOS, assert_same_json, stable
from helpers_mcp import call_tool, data_url, text
from PIL import Image
from servers import running_app

from explainers import load_model, pipeline, registry
from explainers.models.predict import prepare
from explainers.trust import reference
from explainers.trust import scorecard as quality
from explainers.trust.curves import order_curves

COFFEE = common.ROOT / "examples" / "coffee.jpg"
GOALS = {
    "gradcam_first_vs_predict": 2.0,  # x the predict call
    "first_map_over_compute": 0.3,  # s beyond the map's own compute (occlusion, IG)
    "compare_first_panel": 1.5,  # s
    "compare_all": 5.0,  # s
    "card_vs_gradcam": 20.0,  # x a Grad-CAM map
    "card_vs_slow_map": 0.5,  # x an occlusion or IG map
}
CALLERS = 32


def timed_stream(client: Client, endpoint: str, *args: Any) -> dict[str, Any]:
    """Submit, read every streamed output as it arrives: seconds to the first and to the last, and the outputs."""
    start = time.perf_counter()
    job = client.submit(*args, api_name=f"/{endpoint}")
    stamps, outputs = [], []
    for output in job:
        stamps.append(time.perf_counter() - start)
        outputs.append(output)
    return {"first": stamps[0], "last": stamps[-1], "stamps": stamps, "outputs": outputs}


def fresh_photo(folder: Path, index: int) -> str:
    """The coffee photo with its centre pixel changed: new bytes and new model input, so every cache misses."""
    with Image.open(COFFEE) as image:
        pixels = np.asarray(image.convert("RGB")).copy()
    h, w = pixels.shape[0] // 2, pixels.shape[1] // 2
    pixels[h, w] = (pixels[h, w].astype(int) + 1 + index) % 256
    path = folder / f"coffee-{index}.jpg"
    Image.fromarray(pixels).save(path, quality=95)
    return str(path)


def one_round(client: Client, photo: str) -> dict[str, float]:
    """One pass over the endpoints on a photo no cache has seen."""
    upload = handle_file(photo)
    start = time.perf_counter()
    client.predict(upload, "default", "", api_name="/predict")
    row = {"predict": time.perf_counter() - start}
    cases = {
        "gradcam": ("gradcam", "top-1", "raises", ""),
        "gradcam_warm": ("gradcam", "cup", "raises", ""),
        "occlusion": ("occlusion", "top-1", "raises", 32, 16, "blur", "auto"),
        "integrated_gradients": ("integrated_gradients", "top-1", "raises", 64, "blur", 0),
    }
    for name, (endpoint, *options) in cases.items():
        streamed = timed_stream(client, endpoint, upload, "default", "", *options)
        receipt = streamed["outputs"][-1][-1]
        row[f"{name}_first"], row[f"{name}_last"] = streamed["first"], streamed["last"]
        row[f"{name}_map"] = receipt["timings"]["explanation.total"]
        row[f"{name}_card"] = receipt["timings"]["scorecard"]
        row[f"{name}_card_e2e"] = streamed["last"] - streamed["first"]
    streamed = timed_stream(client, "compare", upload, "default", "", "top-1", "raises", list(registry.METHODS))
    row["compare_first"], row["compare_last"] = streamed["first"], streamed["last"]
    row["compare_maps"] = sum(r["timings"]["explanation.total"] for r in streamed["outputs"][-1][-1])
    return row


def verdicts() -> list[dict[str, Any]]:
    """Each bundled photo x method at the tabs' defaults: the app's scorecard (shared reference, early-stopped
    sanity draws) against the same card computed from scratch with every draw.
    """
    loaded, rows = load_model(None), []
    for photo in PHOTOS:
        prepared, prediction = prepare(loaded, str(photo))
        for method in registry.METHODS:
            options = dict(registry.METHODS[method].defaults)
            expl = pipeline.explain(loaded, prepared, prediction, method, options=options)
            (card,) = quality.scorecards(loaded, prepared.image, [expl], steps=pipeline.QUALITY_STEPS)
            reference.memos(loaded)[0].clear()
            (curves,) = order_curves(
                loaded, prepared.image, [expl.heatmap], [expl.target], steps=pipeline.QUALITY_STEPS,
                grid=quality.GRID, baselines=card.baselines, seed=0,
            )  # fmt: skip
            sane = registry.METHODS[method].sanity is not None
            rho = quality.randomisation(loaded, prepared.image, expl, settle=False) if sane else None
            before = quality.verdict(expl, curves, rho)
            after = (card.badge, card.reason, card.notes)
            rows.append({"photo": photo.stem, "method": method, "before": before, "after": after})
    return rows


def concurrent_mixed(url: str) -> tuple[int, int, float]:
    """CALLERS callers at once: streamed Grad-CAM and Compare, batches, MCP predict and Grad-CAM; (equal, total, s)."""
    jobs = []
    for i in range(CALLERS):
        photo = str(PHOTOS[i % len(PHOTOS)])
        kind = ("stream", "batch", "mcp_predict", "mcp_gradcam", "compare")[i % 5]
        jobs.append((kind, photo))

    def run(kind: str, photo: str) -> Any:
        client = Client(url, verbose=False)
        if kind == "stream":
            return timed_stream(client, "gradcam", handle_file(photo), "default", "", "top-1", "raises", "")["outputs"][
                -1
            ][-1]
        if kind == "compare":
            out = client.predict(handle_file(photo), "default", "", "top-1", "raises", ["gradcam"], api_name="/compare")
            return out[-1]
        if kind == "batch":
            out = client.predict([handle_file(photo)], "default", "", "top-1", "raises", ["gradcam"], api_name="/batch")
            (row,) = csv.DictReader(io.StringIO(Path(out[1]).read_text()))
            return {k: v for k, v in row.items() if not k.endswith("_seconds")}
        args = {"image": data_url(photo), "model_id": "default", "revision": ""}
        if kind == "mcp_predict":
            return text(call_tool(url, "predict", args))
        explained = call_tool(url, "gradcam", {**args, "target": "top-1", "direction": "raises", "layer": ""})
        return ast.literal_eval(text(explained))[-1]  # the receipt, the tool's last output

    alone = {job: run(*job) for job in dict.fromkeys(jobs)}
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CALLERS) as pool:
        answers = list(pool.map(lambda job: run(*job), jobs))
    seconds = time.perf_counter() - start
    equal = 0
    for job, answer in zip(jobs, answers, strict=True):
        try:
            assert_same_json(stable(answer), stable(alone[job]))
            equal += 1
        except AssertionError as exc:
            print(f"differs: {job}: {exc}", file=sys.stderr)
    return equal, len(jobs), seconds


def report(rounds: list[dict[str, float]], cards: list[dict[str, Any]], mixed: tuple[int, int, float]) -> str:
    """The goals table (each ratio taken within a round, so load from other processes hits both sides alike, then
    the median over rounds with its range), then every round's times and the verdicts.
    """

    def spread(values: list[float], unit: str, digits: int) -> tuple[float, str]:
        m = statistics.median(values)
        return m, f"{m:.{digits}f}{unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"

    def row(goal: str, measured: str, met: bool) -> str:
        return f"| {goal} | {measured} | {'yes' if met else 'no'} |"

    ratio, text_ = spread([r["gradcam_first"] / r["predict"] for r in rounds], "x", 2)
    predict = statistics.median(r["predict"] for r in rounds)
    lines = [
        "| goal (issue 17) | measured: median over rounds (range) | met |",
        "| --- | --- | --- |",
        row(
            "Grad-CAM: first map <= 2x the predict call",
            f"{text_}; predict {predict:.2f} s",
            ratio <= GOALS["gradcam_first_vs_predict"],
        ),
    ]
    for name in ("occlusion", "integrated_gradients"):
        over, text_ = spread([r[f"{name}_first"] - r[f"{name}_map"] for r in rounds], " s", 2)
        map_s = statistics.median(r[f"{name}_map"] for r in rounds)
        label = f"{registry.label(name)}: first map <= its compute + 0.3 s"
        lines.append(row(label, f"compute {map_s:.2f} s + {text_}", over <= GOALS["first_map_over_compute"]))
    first, text_ = spread([r["compare_first"] for r in rounds], " s", 2)
    lines.append(row("Compare, 3 methods: first panel <= 1.5 s", text_, first <= GOALS["compare_first_panel"]))
    last, text_ = spread([r["compare_last"] for r in rounds], " s", 2)
    maps = statistics.median(r["compare_maps"] for r in rounds)
    label = "Compare, 3 methods: all done <= 5 s (1 CPU thread)"
    lines.append(row(label, f"{text_}; its three maps alone {maps:.2f} s", last <= GOALS["compare_all"]))
    for name, label in (
        ("gradcam_warm", "a Grad-CAM map (photo's reference known)"),
        ("gradcam", "a Grad-CAM map (first map of a photo)"),
        ("occlusion", "an occlusion map"),
        ("integrated_gradients", "an integrated gradients map"),
    ):
        goal = GOALS["card_vs_gradcam"] if name.startswith("gradcam") else GOALS["card_vs_slow_map"]
        ratio, text_ = spread([r[f"{name}_card"] / r[f"{name}_map"] for r in rounds], "x", 2)
        card = statistics.median(r[f"{name}_card"] for r in rounds)
        gap = statistics.median(r[f"{name}_card_e2e"] for r in rounds)
        measured = f"{text_}; card {card:.2f} s, stream gap map -> card {gap:.2f} s"
        lines.append(row(f"Scorecard <= {goal:g}x {label}", measured, ratio <= goal))
    same = sum(c["before"] == c["after"] for c in cards)
    lines.append(
        row(
            "Same verdicts with reuse + early stopping (4 photos x 3 methods, tab defaults)",
            f"{same}/{len(cards)} identical (badge, reason and notes)",
            same == len(cards),
        )
    )
    lines.append(
        row(
            f"{mixed[1]} concurrent callers (streamed, batch, MCP, Compare) = each alone",
            f"{mixed[0]}/{mixed[1]} equal, all answered in {mixed[2]:.1f} s",
            mixed[0] == mixed[1],
        )
    )
    lines += ["", "Per round (s):", "", "| " + " | ".join(rounds[0]) + " |", "|" + "---|" * len(rounds[0])]
    lines += ["| " + " | ".join(f"{r[k]:.3f}" for k in r) + " |" for r in rounds]
    lines += ["", "Verdicts:", "", "| photo | method | badge | same before/after |", "|---|---|---|---|"]
    lines += [f"| {c['photo']} | {c['method']} | {c['after'][0]} | {c['before'] == c['after']} |" for c in cards]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Start the server, run the rounds, the verdicts and the concurrent callers; print (and write) the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    common.pin_threads()
    load_start, wall = os.getloadavg(), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, running_app(log_path=Path(tmp) / "app.log") as url:
        client = Client(url, verbose=False)
        one_round(client, fresh_photo(Path(tmp), 99))  # warm-up: first requests pay for imports and allocations
        rounds = [one_round(client, fresh_photo(Path(tmp), i)) for i in range(args.rounds)]
        mixed = concurrent_mixed(url)
    cards = verdicts()
    command = " ".join(["python bench/e2e.py", *(sys.argv[1:] if argv is None else argv)])
    header = [
        "# End to end through gradio_client: streaming, scorecard cost, concurrency",
        "",
        "| | |",
        "|---|---|",
        f"| command | `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} {command}` |",
        f"| date | {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} |",
        f"| code | {common.git_state()} |",
        f"| server | python app.py, built-in model, OMP_NUM_THREADS=1, XAI_QUALITY_STEPS={pipeline.QUALITY_STEPS} |",
        f"| CPU | {common.cpu_model()}; {os.cpu_count()} logical CPUs; torch threads {torch.get_num_threads()} |",
        f"| load average (1, 5, 15 min) at start | {common.load_text(load_start)} |",
        f"| load average (1, 5, 15 min) at end | {common.load_text(os.getloadavg())} |",
        f"| rounds | {args.rounds} after one warm-up; {time.perf_counter() - wall:.0f} s in all |",
        "",
    ]
    text_out = "\n".join(header) + report(rounds, cards, mixed) + "\n"
    print(text_out)
    if args.out:
        args.out.write_text(text_out)


if __name__ == "__main__":
    main()
