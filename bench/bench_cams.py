"""CAM variants and attention rollout against one forward pass (issue 12 goals: every CAM variant for 5 targets
<= 1.5x one forward pass; the attention map <= 2x one forward + backward), on the default model and a small ViT.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_cams.py   (prints the tables and writes bench/RESULTS_cams.md)
"""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common  # first: pins OpenMP to one thread and puts the repository on sys.path before torch loads

# isort: split
import skimage.data
import timm
import torch
from PIL import Image
from timm.data import resolve_data_config

from explainers.layers import candidate_layers
from explainers.methods import cam_variants, gradcam
from explainers.models.images import image_sha256
from explainers.models.preprocess import prepare_pil
from explainers.targets import resolve_target
from explainers.types import LoadedModel, ModelSource, PreparedImage, TaskInfo

K = 5
RUNS = 15
WARMUP = 2
VIT = "vit_tiny_patch16_224"  # 5.7 M parameters, 12 blocks of 3 heads, 197 tokens; random weights (no download)
OUT = Path(__file__).with_name("RESULTS_cams.md")
Case = tuple[str, Callable[[], Any], str]


def small_vit() -> tuple[LoadedModel, PreparedImage]:
    """ViT-Tiny/16 from timm with seeded random weights, as load_model would hand it over, and the coffee photo."""
    torch.manual_seed(0)
    net = timm.create_model(VIT, pretrained=False).eval().requires_grad_(False)
    loaded = LoadedModel(
        model=net,
        source=ModelSource("local", VIT),
        model_id=VIT,
        revision=None,
        weights_sha256="random:0",
        architecture=VIT,
        data_config=resolve_data_config({}, model=net),
        task=TaskInfo("multiclass", tuple(f"class {i}" for i in range(net.num_classes))),
        device=torch.device("cpu"),
    )
    picture = Image.fromarray(skimage.data.coffee())
    return loaded, prepare_pil(loaded, picture, sha256=image_sha256(picture))


def cam_rows(loaded: LoadedModel, prepared: PreparedImage) -> list[dict[str, Any]]:
    """Every CAM variant for K targets in one call against one no_grad forward (final map and deepest stage)."""
    image, net = prepared.image, loaded.model
    targets = _top(loaded, image)
    inner = candidate_layers(loaded)[1].key
    every = cam_variants.CAM_VARIANTS

    def forward() -> None:
        with torch.no_grad():
            net(image)

    cases: list[Case] = [
        ("forward, no_grad (floor)", forward, ""),
        (
            f"Grad-CAM alone, K={K}, explain_many",
            lambda: gradcam.explain_many(loaded, image, targets=targets),
            "",
        ),
        (
            f"all {len(every)} CAM variants, K={K}, explain_variants",
            lambda: gradcam.explain_variants(loaded, image, targets=targets, variants=every),
            "<= 1.5x forward",
        ),
        (
            f"all {len(every)} CAM variants, K={K}, {inner}",
            lambda: gradcam.explain_variants(loaded, image, targets=targets, variants=every, layer=inner),
            "",
        ),
    ]
    return _timed(cases, base=0)


def vit_rows(loaded: LoadedModel, prepared: PreparedImage) -> list[dict[str, Any]]:
    """The attention map against one forward + backward to the input; Grad-CAM and every CAM variant alongside."""
    image, net = prepared.image, loaded.model
    targets = _top(loaded, image)

    def forward() -> None:
        with torch.no_grad():
            net(image)

    def forward_backward() -> None:
        x = image.detach().requires_grad_(True)
        torch.autograd.grad(net(x)[0, targets[0].index], x)

    cases: list[Case] = [
        ("forward, no_grad", forward, ""),
        ("forward + backward to the input (floor)", forward_backward, ""),
        (
            "attention rollout, 1 target",
            lambda: gradcam.explain(loaded, image, target=targets[0], variant="attention"),
            "<= 2x forward + backward",
        ),
        (
            f"attention rollout, K={K}, explain_many",
            lambda: gradcam.explain_many(loaded, image, targets=targets, variant="attention"),
            "",
        ),
        (
            f"all {len(cam_variants.CAM_VARIANTS)} CAM variants, K={K}",
            lambda: gradcam.explain_variants(loaded, image, targets=targets, variants=cam_variants.CAM_VARIANTS),
            "",
        ),
    ]
    return _timed(cases, base=1)


def _top(loaded: LoadedModel, image: torch.Tensor) -> list[Any]:
    with torch.no_grad():
        top = loaded.model(image)[0].topk(K).indices.tolist()
    return [resolve_target(loaded, i) for i in top]


def _timed(cases: list[Case], *, base: int) -> list[dict[str, Any]]:
    medians, _ = common.median_seconds([fn for _, fn, _ in cases], runs=RUNS, warmup=WARMUP)
    return [
        {"name": name, "median_s": m, "x_base": m / medians[base], "goal": goal}
        for (name, _, goal), m in zip(cases, medians, strict=True)
    ]


def markdown(table: list[dict[str, Any]], base: str) -> str:
    """The rows as a markdown table, ratios against ``base``."""
    lines = [f"| measurement | median ms | x {base} | goal | met |", "|---|---:|---:|---|---|"]
    for r in table:
        goal = r["goal"]
        limit = float(goal.split("x")[0].strip("<= ")) if goal else None
        met = "" if limit is None else ("yes" if r["x_base"] <= limit else "no")
        lines.append(f"| {r['name']} | {r['median_s'] * 1e3:.1f} | {r['x_base']:.2f} | {goal} | {met} |")
    return "\n".join(lines)


def main() -> None:
    """Both tables, with the command, threads and load average, on stdout and in RESULTS_cams.md."""
    threads = common.pin_threads()
    load_start = os.getloadavg()
    loaded, prepared = common.default_setup(torch.device("cpu"))
    cams = markdown(cam_rows(loaded, prepared), "no_grad forward")
    vit, vit_prepared = small_vit()
    rollout = markdown(vit_rows(vit, vit_prepared), "forward + backward")
    load_end = os.getloadavg()
    text = "\n".join(
        [
            "# CAM variants and attention rollout: cost against one forward pass",
            "",
            f"command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} python bench/bench_cams.py`  ",
            f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; torch {torch.__version__}, "
            f"timm {timm.__version__}, torch threads: {threads}; {os.cpu_count()} logical CPUs; load average (1, 5, "
            f"15 min) {_load(load_start)} at start, {_load(load_end)} at end; median of {RUNS} interleaved runs after "
            f"{WARMUP} warm-up rounds",
            "",
            f"## {loaded.architecture} (built-in default) on the coffee photo, {tuple(prepared.image.shape)}",
            "",
            cams,
            "",
            f"## {VIT} (random weights) on the coffee photo, {tuple(vit_prepared.image.shape)}",
            "",
            rollout,
            "",
        ]
    )
    print(text)
    OUT.write_text(text, encoding="utf-8")
    print(f"written to {OUT.relative_to(Path(__file__).resolve().parents[1])}", file=sys.stderr)


def _load(values: tuple[float, float, float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
