"""Grad-CAM cost against one forward pass on the default model and skimage's coffee photo (issue goals: <= 1.5x).

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_gradcam.py
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import common  # first: pins OpenMP to one thread and puts the repository on sys.path before torch loads

# isort: split
import torch

from explainers.layers import candidate_layers
from explainers.methods import gradcam
from explainers.targets import resolve_target
from explainers.types import LoadedModel, PreparedImage

K = 5
RUNS = 15
WARMUP = 2


def rows(loaded: LoadedModel, prepared: PreparedImage) -> list[dict[str, Any]]:
    """One dict per measurement: name, median_s, x_forward (vs the no_grad forward), x_autograd (vs a forward that
    records the graph), x_one_map (K-map cases vs the matching one-map case), goal.
    """
    image, net = prepared.image, loaded.model
    with torch.no_grad():
        top = net(image)[0].topk(K).indices.tolist()
    targets = [resolve_target(loaded, i) for i in top]
    inner = candidate_layers(loaded)[1].key  # the deepest stage: a full-backbone graph, unlike the final map

    def forward() -> None:
        with torch.no_grad():
            net(image)

    def forward_autograd() -> None:
        net(image.detach().requires_grad_(True))

    def forward_backward() -> None:
        x = image.detach().requires_grad_(True)
        torch.autograd.grad(net(x)[0, top[0]], x)

    cases: list[tuple[str, Callable[[], Any], str]] = [
        ("forward, no_grad (floor)", forward, ""),
        ("forward recording autograd", forward_autograd, ""),
        ("forward + backward to the input", forward_backward, ""),
        (
            "Grad-CAM, 1 target, final features",
            lambda: gradcam.explain(loaded, image, target=targets[0]),
            "<= 1.5x forward",
        ),
        (
            f"Grad-CAM, K={K}, explain_many",
            lambda: gradcam.explain_many(loaded, image, targets=targets),
            "<= 1.5x one map",
        ),
        (
            f"Grad-CAM, K={K} separate explain calls",
            lambda: [gradcam.explain(loaded, image, target=t) for t in targets],
            "",
        ),
        (
            f"Grad-CAM, 1 target, {inner}",
            lambda: gradcam.explain(loaded, image, target=targets[0], layer=inner),
            "<= 1.5x forward",
        ),
        (
            f"Grad-CAM, K={K}, explain_many, {inner}",
            lambda: gradcam.explain_many(loaded, image, targets=targets, layer=inner),
            "<= 1.5x one map",
        ),
    ]
    medians, _ = common.median_seconds([fn for _, fn, _ in cases], runs=RUNS, warmup=WARMUP)
    out: list[dict[str, Any]] = [
        {"name": name, "median_s": m, "goal": goal} for (name, _, goal), m in zip(cases, medians, strict=True)
    ]
    floor, autograd_floor = out[0]["median_s"], out[1]["median_s"]
    one_map = {"final": out[3]["median_s"], "inner": out[6]["median_s"]}
    for i, row in enumerate(out):
        row["x_forward"] = row["median_s"] / floor
        row["x_autograd"] = row["median_s"] / autograd_floor
        row["x_one_map"] = row["median_s"] / one_map["inner" if i == 7 else "final"] if i in (4, 5, 7) else None
    return out


COLUMNS = "measurement | median ms | x no_grad forward | x autograd forward | x one map | <goal"


def cells(r: dict[str, Any]) -> list[Any]:
    """One row of the markdown table."""
    one = "" if r["x_one_map"] is None else f"{r['x_one_map']:.2f}"
    return [r["name"], f"{r['median_s'] * 1e3:.1f}", f"{r['x_forward']:.2f}", f"{r['x_autograd']:.2f}", one, r["goal"]]


def markdown(table: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    return common.table(COLUMNS, table, cells)


if __name__ == "__main__":
    common.run(rows, markdown, runs=RUNS, warmup=WARMUP)
