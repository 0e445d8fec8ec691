"""Benchmark: similar cases on the Fashion-MNIST demo, and gallery search at scale, on one CPU thread.

(a) accuracy: on the demo of scripts/build_demo_fashion.py, how often the nearest reference's label is the held-aside
    test image's true label (the query itself is never a reference: test images come from the t10k file), and whether
    the nearest unlike neighbour always has another label than the prediction.
(b) scale: a gallery of 60,000 random unit vectors at the demo's embedding width (1280), written and loaded like a
    real one: the time of one query after its forward pass (search, agreement, unlike neighbour, thumbnails), the
    index's memory, and the same search on an exact float32 index for comparison.
(c) build: gallery build throughput (images/s, decode + preprocess + forward + thumbnail) over the demo's references.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_similar.py --demo DIR      # a demo built at benchmark size:
    OMP_NUM_THREADS=1 .venv/bin/python scripts/build_demo_fashion.py --out DIR --train 10000 --test 1000 --epochs 8
"""

from __future__ import annotations

import argparse
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
import numpy as np
import torch
from PIL import Image

from explainers.models.loading import load_model
from explainers.models.predict import prepare
from explainers.models.tasks import decide
from explainers.similar.build import build_gallery, console_progress, embed
from explainers.similar.index import Grouped, build_index, choose_index, index_bytes, search
from explainers.similar.labels import label_key
from explainers.similar.layout import write_gallery
from explainers.similar.search import similar_to_embedding
from explainers.similar.store import load_gallery
from explainers.types import LoadedModel

GOAL_ACCURACY, GOAL_MS = 0.85, 20.0
RESULTS = Path(__file__).with_name("RESULTS_similar.md")


def accuracy(model: LoadedModel, demo: Path, k: int = 8) -> dict[str, Any]:
    """(a): nearest-neighbour label accuracy and unlike-neighbour checks over demo/test."""
    gallery = load_gallery(demo / "model", model)
    files = sorted((demo / "test").rglob("*.png"))
    nearest = predicted = unlike_ok = self_hits = 0
    search_ms, cpu_ms = [], []
    for path in files:
        prepared, prediction = prepare(model, str(path))
        query = embed(model, prepared.image)[0]  # the forward pass, outside the timing
        start, start_cpu = time.perf_counter(), time.thread_time()
        cases = similar_to_embedding(gallery, query, prediction, k=k)
        cpu_ms.append(1000 * (time.thread_time() - start_cpu))
        search_ms.append(1000 * (time.perf_counter() - start))
        truth = label_key(path.parent.name)
        nearest += label_key(cases.neighbours[0].label) == truth
        predicted += label_key(prediction.decision) == truth
        unlike_ok += cases.nearest_unlike is None or cases.nearest_unlike.label != prediction.decision
        self_hits += any(n.id.endswith(path.name) for n in cases.neighbours)
    return {
        "test images": len(files),
        "references": gallery.count,
        "index": gallery.choice.words,
        "nearest-neighbour label = true label": nearest / len(files),
        "model's own accuracy": predicted / len(files),
        "unlike neighbour has another label": unlike_ok / len(files),
        "query among its neighbours": self_hits,
        "median similar-cases ms after the forward": statistics.median(search_ms),
        "median similar-cases CPU ms (this thread)": statistics.median(cpu_ms),
    }


def scale(model: LoadedModel, count: int, dim: int, queries: int, k: int = 8) -> dict[str, Any]:
    """(b): a synthetic gallery of ``count`` unit vectors in class clusters, loaded like a real one; per-query times."""
    rng = np.random.default_rng(0)
    classes = model.task.num_outputs
    centres = rng.standard_normal((classes, dim), dtype=np.float32)
    labels = rng.integers(0, classes, count)
    # Clustered like a trained model's embeddings: the k nearest share the query's class, so the nearest unlike
    # neighbour lies beyond them, as it does on the demo (random labels would put one among the k for free).
    vectors = centres[labels] + rng.standard_normal((count, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    thumb = io.BytesIO()
    Image.new("RGB", (28, 28), (128, 128, 128)).save(thumb, format="JPEG")
    with tempfile.TemporaryDirectory() as tmp:
        ids = [f"synthetic-{i}" for i in range(count)]
        thumbs = [thumb.getvalue()] * count
        write_gallery(Path(tmp), model, embeddings=vectors, labels=labels, ids=ids, thumbnails=thumbs, details={})
        start = time.perf_counter()
        gallery = load_gallery(tmp, model, cache=False)
        load_s = time.perf_counter() - start
    exact_choice = choose_index(count, dim, float32_bytes=2**62)
    exact = build_index(vectors, exact_choice)
    wall, cpu, exact_ms, beyond = [], [], [], 0
    for _ in range(queries):
        label = int(rng.integers(classes))
        query = centres[label] + rng.standard_normal(dim, dtype=np.float32)
        query /= np.linalg.norm(query)
        prediction = decide(model.task, np.eye(classes, dtype=np.float32)[label] * 5)
        start, start_cpu = time.perf_counter(), time.thread_time()
        cases = similar_to_embedding(gallery, query, prediction, k=k)
        cpu.append(1000 * (time.thread_time() - start_cpu))
        wall.append(1000 * (time.perf_counter() - start))
        beyond += cases.nearest_unlike not in cases.neighbours
        start = time.perf_counter()
        search(exact, exact_choice, query, k)
        exact_ms.append(1000 * (time.perf_counter() - start))
    return {
        "references": count,
        "dim": dim,
        "index": gallery.choice.words + (", one index per class" if isinstance(gallery.index, Grouped) else ""),
        "load s (verify files + build index)": load_s,
        "median query ms (k=8, agreement, unlike neighbour, thumbnails)": statistics.median(wall),
        "p90 query ms": float(np.percentile(wall, 90)),
        "fastest query ms": min(wall),
        "median query CPU ms (this thread)": statistics.median(cpu),
        "queries whose unlike neighbour lies beyond the k": f"{beyond}/{queries}",
        "index MB": index_bytes(gallery.index) / 2**20,
        "for comparison, exact float32 index: median top-k search ms": statistics.median(exact_ms),
        "for comparison, exact float32 index: MB": index_bytes(exact) / 2**20,
    }


def build_rate(model: LoadedModel, demo: Path) -> dict[str, Any]:
    """(c): build the demo's gallery again from its reference images, with a progress bar."""
    with tempfile.TemporaryDirectory() as tmp, console_progress("gallery build") as progress:
        built = build_gallery(model, demo / "references", out_dir=Path(tmp) / "gallery", progress=progress)
    return {"images": built.count, "seconds": built.seconds, "images/s": built.images_per_second}


def markdown(command: str, header: str, a: dict[str, Any], b: dict[str, Any], c: dict[str, Any] | None) -> str:
    """The results as markdown: a header with the command, then one table per part and the goals."""

    def table(title: str, rows: dict[str, Any]) -> str:
        lines = [f"### {title}", "", "| measure | value |", "|---|---|"]
        lines += [f"| {k} | {v:.3g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in rows.items()]
        return "\n".join(lines)

    acc = a["nearest-neighbour label = true label"]
    ms = b["median query ms (k=8, agreement, unlike neighbour, thumbnails)"]
    cpu, fastest = b["median query CPU ms (this thread)"], b["fastest query ms"]
    goals = [
        "| goal | measured | met |",
        "|---|---|---|",
        f"| nearest-neighbour label = true label >= {GOAL_ACCURACY:.0%} | {acc:.1%} | {acc >= GOAL_ACCURACY} |",
        f"| nearest unlike neighbour always differs | {a['unlike neighbour has another label']:.0%} | "
        f"{a['unlike neighbour has another label'] == 1.0} |",
        f"| {b['references']:,} references: query < {GOAL_MS:.0f} ms after the forward, one thread | median "
        f"{ms:.1f} ms wall, {cpu:.1f} ms CPU; fastest {fastest:.1f} ms | wall {ms < GOAL_MS}, CPU {cpu < GOAL_MS} |",
    ]
    parts = [
        "# Similar cases: measured",
        "",
        f"`{command}`",
        "",
        header,
        "",
        "\n".join(goals),
        "",
        table("(a) Fashion-MNIST demo, held-aside test images", a),
        "",
        table("(b) Scale: synthetic gallery, search after the query's forward pass", b),
    ]
    if c is not None:
        parts += ["", table("(c) Gallery build (decode, preprocess, forward, thumbnail)", c)]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run (a), (b) and (c), print the markdown and write RESULTS_similar.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, required=True, help="folder written by scripts/build_demo_fashion.py")
    parser.add_argument("--refs", type=int, default=60_000, help="references in the synthetic gallery")
    parser.add_argument("--queries", type=int, default=200, help="synthetic queries")
    parser.add_argument("--no-build", action="store_true", help="skip (c), the gallery build")
    args = parser.parse_args(argv)
    threads = common.pin_threads()
    load_before = os.getloadavg()
    model = load_model(f"local:{args.demo / 'model'}")
    dim = load_gallery(args.demo / "model", model).dim
    a = accuracy(model, args.demo)
    b = scale(model, args.refs, dim, args.queries)
    c = None if args.no_build else build_rate(model, args.demo)
    load_after = os.getloadavg()
    header = (
        f"torch threads: {threads}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, CPU cores: {os.cpu_count()}, "
        f"load average (1/5/15 min) before {'/'.join(f'{x:.1f}' for x in load_before)}, after "
        f"{'/'.join(f'{x:.1f}' for x in load_after)} (a shared machine: wall times include other people's work); "
        f"model: {model.architecture} at {model.input_size[0]} px, torch {torch.__version__}"
    )
    command = "OMP_NUM_THREADS=1 python bench/bench_similar.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = markdown(command, header, a, b, c)
    print(text)
    RESULTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
