"""Occlusion cost on the default model and skimage's coffee photo (issue goals: GPU >= 5x captum's one-window-per-
forward loop; CPU: coarse_to_fine finds dense's critical window with >= 4x fewer forwards and >= 4x less time).

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_occlusion.py
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import common  # first: pins OpenMP to one thread and puts the repository on sys.path before torch loads

# isort: split
import numpy as np
from captum.attr import Occlusion

from explainers.methods import occlusion
from explainers.methods.baselines import baseline
from explainers.models.predict import model_outputs
from explainers.targets import ensure_target, forward_fn
from explainers.types import LoadedModel, PreparedImage

WINDOW, STRIDE, FILL = 32, 16, "blur"
RUNS = 3
TOLERANCE = 1e-4  # batching changes float summation order inside the model, nothing else
DETAILS = f"window {WINDOW}, stride {STRIDE}, fill {FILL}"  # for the header line


def rows(loaded: LoadedModel, prepared: PreparedImage) -> list[dict[str, Any]]:
    """Ours dense vs captum with perturbations_per_eval=1 (same window, stride, fill), and coarse_to_fine vs dense.

    Raises:
        AssertionError: ours and captum's maps differ by more than TOLERANCE, or coarse_to_fine's critical window is
            not dense's.
    """
    image = prepared.image
    target = ensure_target(loaded, None, model_outputs(loaded, image))
    options: dict[str, Any] = {"target": target, "window": WINDOW, "stride": STRIDE, "baselines": FILL}

    def captum_loop() -> np.ndarray:
        attr = Occlusion(forward_fn(loaded, target)).attribute(
            image,
            sliding_window_shapes=(3, WINDOW, WINDOW),
            strides=(3, STRIDE, STRIDE),
            baselines=baseline(loaded, image, FILL),
            perturbations_per_eval=1,
        )
        return attr[0].mean(0).cpu().numpy()

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("captum Occlusion, perturbations_per_eval=1", captum_loop),
        ("ours, dense", lambda: occlusion.explain(loaded, image, mode="dense", **options)),
        ("ours, coarse_to_fine", lambda: occlusion.explain(loaded, image, mode="coarse_to_fine", **options)),
    ]
    medians, (reference, dense, c2f) = common.median_seconds([fn for _, fn in cases], runs=RUNS)
    diff = float(np.abs(dense.heatmap - reference).max())
    if diff > TOLERANCE:
        raise AssertionError(f"ours dense differs from captum by {diff:.3g} (> {TOLERANCE})")
    if c2f.extras["critical_box"] != dense.extras["critical_box"]:
        raise AssertionError(f"coarse_to_fine found {c2f.extras['critical_box']}, dense {dense.extras['critical_box']}")
    n_windows = dense.extras["n_windows"]
    corr = float(np.corrcoef(c2f.heatmap.ravel(), dense.heatmap.ravel())[0, 1])

    def row(k: int, forwards: int, batch: int, box: Any, **facts: Any) -> dict[str, Any]:
        return {
            "name": cases[k][0],
            "median_s": medians[k],
            "forwards": forwards,
            "batch": batch,
            "x_captum": medians[0] / medians[k],
            "critical_box": box,
            **facts,
        }

    def ours(k: int, result: Any, **facts: Any) -> dict[str, Any]:
        extras = result.extras
        return row(k, extras["n_forwards"], extras["perturbations_per_eval"], extras["critical_box"], **facts)

    return [
        row(0, 1 + n_windows, 1, None, max_abs_diff=0.0, map_corr=1.0),
        ours(1, dense, max_abs_diff=diff, map_corr=1.0),
        ours(
            2,
            c2f,
            x_dense=medians[1] / medians[2],
            x_forwards=dense.extras["n_forwards"] / c2f.extras["n_forwards"],
            max_abs_diff=None,
            map_corr=corr,
        ),
    ]


COLUMNS = (
    "measurement | median s | forwards | batch | x faster than captum | x faster than dense | x fewer forwards | "
    "<critical box | max abs diff vs captum | map corr vs dense"
)


def cells(r: dict[str, Any]) -> list[Any]:
    """One row of the markdown table."""
    diff = "" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.1e}"
    speed = [f"{r['x_captum']:.2f}", f"{r.get('x_dense', 1.0):.2f}", f"{r.get('x_forwards', 1.0):.2f}"]
    return [
        r["name"],
        f"{r['median_s']:.2f}",
        r["forwards"],
        r["batch"],
        *speed,
        r["critical_box"],
        diff,
        f"{r['map_corr']:.3f}",
    ]


def markdown(table: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    return common.table(COLUMNS, table, cells)


if __name__ == "__main__":
    common.run(rows, markdown, runs=RUNS, details=DETAILS)
