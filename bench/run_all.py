"""Every method's benchmark in one process, on one model and photo: one markdown report with the issue's goals.

Grad-CAM, occlusion, integrated gradients and the quality scorecard run their own ``rows`` (same cases, runs and
warm-up as their scripts); this script adds captum's defaults on the same work where a table lacks them, and reads
the goals off the rows. The machine is shared, so the load average is printed before and after each part.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/run_all.py [--device cuda] [--with-counterfactual] > bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common  # first: pins OpenMP to one thread and puts the repository on sys.path before torch loads

# isort: split
import bench_counterfactual
import bench_gradcam
import bench_integrated_gradients
import bench_occlusion
import bench_quality
import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import IntegratedGradients, LayerGradCam

from explainers.layers import candidate_layers
from explainers.methods import gradcam, integrated_gradients
from explainers.methods.baselines import baseline
from explainers.models.predict import model_outputs
from explainers.targets import ensure_target, forward_fn, resolve_target
from explainers.types import LoadedModel, PreparedImage

ROOT = Path(__file__).resolve().parents[1]
Row = dict[str, Any]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: load_model's choice (cuda if present)")
    parser.add_argument("--with-counterfactual", action="store_true", help="add the counterfactual benchmark (minutes)")
    parser.add_argument("--counterfactual-limit", type=int, help="only the first N counterfactual uploads (39 in all)")
    args = parser.parse_args(argv)
    device = common.device_or_exit(args.device)
    common.pin_threads()
    started, load_start = time.perf_counter(), os.getloadavg()
    loaded, prepared = common.default_setup(device)

    sections: list[str] = []
    measured: dict[str, list[Row]] = {}

    def part(title: str, run: Callable[[], tuple[list[Row], str]]) -> None:
        print(f"run_all: {title} ...", file=sys.stderr, flush=True)
        before, t0 = os.getloadavg(), time.perf_counter()
        table, text = run()
        measured[title] = table
        sections.append(
            f"## {title}\n\n_{time.perf_counter() - t0:.0f} s; load average (1 min) {before[0]:.2f} before, "
            f"{os.getloadavg()[0]:.2f} after_\n\n{text}\n"
        )

    part("Grad-CAM", lambda: _gradcam(loaded, prepared))
    part("Occlusion", lambda: _occlusion(loaded, prepared))
    part("Integrated gradients", lambda: _integrated_gradients(loaded, prepared))
    part("Quality scorecard", lambda: _quality(loaded, prepared))
    if args.with_counterfactual:
        part("Counterfactuals", lambda: _counterfactual(loaded, args.counterfactual_limit))

    print(_header(loaded, prepared, argv, load_start, time.perf_counter() - started))
    print(_goals(measured, loaded.device))
    print("\n".join(sections))


def _header(
    loaded: LoadedModel, prepared: PreparedImage, argv: list[str] | None, load_start: tuple[float, ...], seconds: float
) -> str:
    command = " ".join(["python bench/run_all.py", *(sys.argv[1:] if argv is None else argv)])
    gpu = torch.cuda.get_device_name(loaded.device) if loaded.device.type == "cuda" else "none used"
    rows = [
        ("command", f"`OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} {command}`"),
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("code", common.git_state()),
        ("model", f"{loaded.architecture} (built-in default) on {loaded.device}"),
        ("input", f"skimage.data.coffee(), prepared to {tuple(prepared.image.shape)}"),
        ("CPU", f"{common.cpu_model()}; {os.cpu_count()} logical CPUs, {len(os.sched_getaffinity(0))} usable"),
        ("GPU", gpu),
        ("torch", f"{torch.__version__}, threads: {torch.get_num_threads()}"),
        ("OMP_NUM_THREADS", str(os.environ.get("OMP_NUM_THREADS"))),
        ("load average (1, 5, 15 min) at start", common.load_text(load_start)),
        ("load average (1, 5, 15 min) at end", common.load_text(os.getloadavg())),
        ("wall time", f"{seconds:.0f} s"),
    ]
    return "\n".join(
        [
            "# Benchmarks: the default model on skimage's coffee photo",
            "",
            "Times are medians of interleaved rounds (every case of a table runs once per round, so load from other",
            "processes hits each case alike and the ratios hold up better than the absolute times).",
            "",
            "| | |",
            "|---|---|",
            *(f"| {k} | {v} |" for k, v in rows),
            "",
        ]
    )


def _goals(measured: dict[str, list[Row]], device: torch.device) -> str:
    """The issue's goals next to the measured ratios."""
    cam, occ, ig = measured["Grad-CAM"], measured["Occlusion"], measured["Integrated gradients"]
    dense, c2f = occ[1], occ[2]
    on_gpu = device.type == "cuda"
    goals: list[tuple[str, str, str]] = []
    for r in cam:
        if r["goal"] == "<= 1.5x forward":
            goals.append(
                (f"{r['name']}: <= 1.5x one forward pass", f"{r['x_forward']:.2f}x", _met(r["x_forward"] <= 1.5))
            )
        elif r["goal"] == "<= 1.5x one map":
            goals.append((f"{r['name']}: <= 1.5x one map", f"{r['x_one_map']:.2f}x", _met(r["x_one_map"] <= 1.5)))
    tol = bench_occlusion.TOLERANCE
    goals += [
        (
            f"Occlusion, dense: the same map as captum's (max abs diff <= {tol:g})",
            f"{dense['max_abs_diff']:.1e}",
            _met(dense["max_abs_diff"] <= tol),
        ),
        (
            "Occlusion, dense: >= 5x faster than captum (perturbations_per_eval=1) on GPU",
            f"{dense['x_captum']:.2f}x on {device.type}",
            _met(dense["x_captum"] >= 5) if on_gpu else "not measured: no GPU in this run (CPU ratio for reference)",
        ),
        (
            "Occlusion on CPU, coarse_to_fine: finds dense's critical window",
            f"{c2f['critical_box']} vs {dense['critical_box']}",
            _met(c2f["critical_box"] == dense["critical_box"]),
        ),
        (
            "Occlusion on CPU, coarse_to_fine: >= 4x faster than dense",
            f"{c2f['x_dense']:.2f}x",
            _met(c2f["x_dense"] >= 4) if not on_gpu else "CPU goal; this run is on GPU",
        ),
        (
            "Occlusion on CPU, coarse_to_fine: >= 4x fewer forwards than dense (bench_occlusion's docstring)",
            f"{c2f['x_forwards']:.2f}x",
            _met(c2f["x_forwards"] >= 4),
        ),
        (
            f"Integrated gradients, n_steps={bench_integrated_gradients.N_STEPS}: <= 1.2x its floor "
            f"({bench_integrated_gradients.N_STEPS} forward+backward passes in one batch)",
            f"{ig[2]['x_floor']:.2f}x",
            _met(ig[2]["x_floor"] <= 1.2),
        ),
    ]
    lines = ["## Goals (from the issue)", "", "| goal | measured | met |", "|---|---:|---|"]
    lines += [f"| {goal} | {value} | {met} |" for goal, value, met in goals]
    lines.append(
        "\nThe scorecard and counterfactuals have no time goal in the issue; their tables follow with the others."
    )
    return "\n".join(lines) + "\n"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _gradcam(loaded: LoadedModel, prepared: PreparedImage) -> tuple[list[Row], str]:
    table = bench_gradcam.rows(loaded, prepared)
    runs, warmup = bench_gradcam.RUNS, bench_gradcam.WARMUP
    image, net = prepared.image, loaded.model
    with torch.no_grad():
        top = net(image)[0].topk(bench_gradcam.K).indices.tolist()
    targets = [resolve_target(loaded, i) for i in top]
    inner = candidate_layers(loaded)[1]
    h, w = image.shape[2:]
    final_module = _final_features_module(net, image)
    inner_module = net.feature_info[inner.index]["module"]

    def captum_map(module: str, target: Any) -> np.ndarray:
        cam = LayerGradCam(forward_fn(loaded, target), net.get_submodule(module)).attribute(image)
        return F.interpolate(cam, size=(h, w), mode="bilinear", align_corners=False)[0, 0].detach().cpu().numpy()

    def forward() -> None:
        with torch.no_grad():
            net(image)

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("forward, no_grad (floor)", forward),
        ("ours, 1 target, final features", lambda: gradcam.explain(loaded, image, target=targets[0]).heatmap),
        (f"captum LayerGradCam({final_module}), 1 target", lambda: captum_map(final_module, targets[0])),
        (
            f"ours, K={len(targets)}, explain_many, final features",
            lambda: [e.heatmap for e in gradcam.explain_many(loaded, image, targets=targets)],
        ),
        (
            f"captum LayerGradCam({final_module}), K={len(targets)}: one call per target",
            lambda: [captum_map(final_module, t) for t in targets],
        ),
        (
            f"ours, 1 target, {inner.key}",
            lambda: gradcam.explain(loaded, image, target=targets[0], layer=inner.key).heatmap,
        ),
        (f"captum LayerGradCam({inner_module}), 1 target", lambda: captum_map(inner_module, targets[0])),
    ]
    medians, results = common.median_seconds([fn for _, fn in cases], runs=runs, warmup=warmup)
    ours_of = {2: 1, 4: 3, 6: 5}  # captum case -> our case doing the same work
    lines = [
        "| measurement | median ms | x no_grad forward | captum / ours | max abs diff vs ours |",
        "|---|---:|---:|---:|---:|",
    ]
    for i, ((name, _), m) in enumerate(zip(cases, medians, strict=True)):
        ratio = diff = ""
        if i in ours_of:
            j = ours_of[i]
            ratio = f"{m / medians[j]:.2f}"
            diff = f"{float(np.max(np.abs(np.asarray(results[i]) - np.asarray(results[j])))):.1e}"
        lines.append(f"| {name} | {m * 1e3:.1f} | {m / medians[0]:.2f} | {ratio} | {diff} |")
    text = "\n\n".join(
        [
            common.header(loaded, prepared, runs, warmup=warmup),
            bench_gradcam.markdown(table),
            "Against captum's defaults (LayerGradCam on the module that outputs the same features, upsampled like "
            "ours, relu_attributions=False as our raw signed maps; one attribute call per target, captum's usual "
            "way), timed in rounds of their own:",
            "\n".join(lines),
        ]
    )
    return table, text


def _final_features_module(net: torch.nn.Module, image: torch.Tensor) -> str:
    """Name of the last module whose output is forward_features' result: where captum must hook for the same map."""
    seen: list[tuple[str, Any]] = []
    handles = [
        module.register_forward_hook(lambda _m, _i, out, name=name: seen.append((name, out)))
        for name, module in net.named_modules()
        if name
    ]
    try:
        with torch.no_grad():
            features = net.forward_features(image)  # type: ignore[operator]
    finally:
        for handle in handles:
            handle.remove()
    found = next((name for name, out in reversed(seen) if out is features), None)
    if found is None:
        raise RuntimeError(f"no module of {type(net).__name__} returns forward_features' output; captum cannot hook it")
    return found


def _occlusion(loaded: LoadedModel, prepared: PreparedImage) -> tuple[list[Row], str]:
    table = bench_occlusion.rows(loaded, prepared)
    text = "\n\n".join(
        [
            common.header(loaded, prepared, bench_occlusion.RUNS, details=bench_occlusion.DETAILS),
            "captum's default (perturbations_per_eval=1, one window per forward) is the first row; ours dense does "
            "the same windows in batches, and its floor is the forward count it reports.",
            bench_occlusion.markdown(table),
        ]
    )
    return table, text


def _integrated_gradients(loaded: LoadedModel, prepared: PreparedImage) -> tuple[list[Row], str]:
    table = bench_integrated_gradients.rows(loaded, prepared)
    n_steps, runs, warmup = (
        bench_integrated_gradients.N_STEPS,
        bench_integrated_gradients.RUNS,
        bench_integrated_gradients.WARMUP,
    )
    image = prepared.image
    target = ensure_target(loaded, None, model_outputs(loaded, image))
    black = baseline(loaded, image, "black")

    def ours() -> np.ndarray:
        return integrated_gradients.explain(loaded, image, target=target, n_steps=n_steps).heatmap

    def captum() -> np.ndarray:
        with torch.enable_grad():
            attr = IntegratedGradients(forward_fn(loaded, target)).attribute(image, baselines=black, n_steps=n_steps)
        return attr[0].sum(0).detach().cpu().numpy()

    medians, (mine, theirs) = common.median_seconds([ours, captum], runs=runs, warmup=warmup)
    diff = float(np.abs(mine - theirs).max())
    scale = float(np.abs(theirs).max())
    text = "\n\n".join(
        [
            common.header(loaded, prepared, runs, warmup=warmup),
            bench_integrated_gradients.markdown(table),
            f"Against captum's defaults for the same work (IntegratedGradients, n_steps={n_steps}, gausslegendre, "
            "internal_batch_size=None: all steps in one batch, no convergence delta), timed in rounds of their own:",
            "| measurement | median s | captum / ours | max abs diff vs ours (of max abs) |\n|---|---:|---:|---:|\n"
            f"| ours, n_steps={n_steps} (black) | {medians[0]:.2f} | | |\n"
            f"| captum IntegratedGradients, n_steps={n_steps} (black) | {medians[1]:.2f} | "
            f"{medians[1] / medians[0]:.2f} | {diff:.1e} ({diff / scale:.1e}) |",
        ]
    )
    return table, text


def _quality(loaded: LoadedModel, prepared: PreparedImage) -> tuple[list[Row], str]:
    table = bench_quality.rows(loaded, prepared)
    seconds, _ = bench_quality.paperwork(loaded, prepared, table)
    forward_s = next(r["full_s"] for r in table if r["kind"] == "forward")
    lines = [
        "| method | curve forwards | curves s | forwards x one forward s | curves / that |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in table:
        if r["kind"] == "method":
            floor = r["forwards"] * forward_s
            lines.append(
                f"| {r['name']} | {r['forwards']} | {r['curves_s']:.2f} | {floor:.2f} | {r['curves_s'] / floor:.2f} |"
            )
    text = "\n\n".join(
        [
            common.header(loaded, prepared, bench_quality.RUNS),
            bench_quality.markdown(table),
            f"receipts + report: {seconds * 1000:.1f} ms",
            "Against its floor: the curves' forward passes, each priced at one unbatched forward (the scorecard "
            "batches them, so below 1 is possible). captum has no counterpart (captum.metrics offers infidelity "
            "and sensitivity, not deletion/insertion curves).",
            "\n".join(lines),
        ]
    )
    return table, text


def _counterfactual(loaded: LoadedModel, limit: int | None) -> tuple[list[Row], str]:
    table = bench_counterfactual.rows(loaded, limit=limit)
    uploads = "all 39 uploads" if limit is None else f"the first {limit} of 39 uploads"
    text = (
        f"{uploads}, two goals each; wall-clock s per explain() after one warm-up call (see bench_counterfactual.py)"
        f"\n\n{bench_counterfactual.table(table)}"
    )
    return table, text


if __name__ == "__main__":
    main()
