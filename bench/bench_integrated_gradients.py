"""Integrated gradients cost on the default model and skimage's coffee photo (issue goal: n_steps=32 within 1.2x of
its floor, 32 forward + backward passes batched as one batch of 32 images).

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_integrated_gradients.py
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import common  # first: pins OpenMP to one thread and puts the repository on sys.path before torch loads

# isort: split
import torch

from explainers.methods import integrated_gradients
from explainers.models.predict import model_outputs
from explainers.targets import ensure_target, forward_fn
from explainers.types import LoadedModel, PreparedImage

N_STEPS = 32
RUNS = 5
WARMUP = 1


def rows(loaded: LoadedModel, prepared: PreparedImage) -> list[dict[str, Any]]:
    """IG n_steps=32 against 32 forward + backward passes to the input: in one batch (the floor) and in batches of
    the size IG itself picked for this device.
    """
    image = prepared.image
    target = ensure_target(loaded, None, model_outputs(loaded, image))
    fn = forward_fn(loaded, target)
    picked = integrated_gradients.explain(loaded, image, target=target, n_steps=N_STEPS).extras["internal_batch_size"]

    def passes(batch: int) -> Callable[[], None]:
        def run() -> None:
            for start in range(0, N_STEPS, batch):
                x = image.repeat(min(batch, N_STEPS - start), 1, 1, 1).requires_grad_(True)
                torch.autograd.grad(fn(x).sum(), x)

        return run

    cases: list[tuple[str, Callable[[], Any]]] = [
        (f"floor: {N_STEPS} forward+backward, one batch of {N_STEPS}", passes(N_STEPS)),
        (f"{N_STEPS} forward+backward in batches of {picked}", passes(picked)),
        (
            f"IG n_steps={N_STEPS} (black)",
            lambda: integrated_gradients.explain(
                loaded, image, target=target, baselines="black", n_steps=N_STEPS, smooth_samples=0
            ),
        ),
    ]
    medians, results = common.median_seconds([fn for _, fn in cases], runs=RUNS, warmup=WARMUP)
    ig = results[2]
    return [
        {
            "name": name,
            "median_s": m,
            "x_floor": m / medians[0],
            "x_same_batches": m / medians[1],
            "relative_delta": ig.extras["relative_delta"] if i == 2 else None,
        }
        for i, ((name, _), m) in enumerate(zip(cases, medians, strict=True))
    ]


COLUMNS = "measurement | median s | x floor (one batch of 32) | x same passes in IG's batches | relative delta"


def cells(r: dict[str, Any]) -> list[Any]:
    """One row of the markdown table."""
    rel = "" if r["relative_delta"] is None else f"{r['relative_delta']:.2%}"
    return [r["name"], f"{r['median_s']:.2f}", f"{r['x_floor']:.2f}", f"{r['x_same_batches']:.2f}", rel]


def markdown(table: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    return common.table(COLUMNS, table, cells)


if __name__ == "__main__":
    common.run(rows, markdown, runs=RUNS, warmup=WARMUP)
