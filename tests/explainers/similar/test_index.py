"""The faiss index follows the gallery's size: exact float32, float16 scan, inverted file; each finds what it should."""

from __future__ import annotations

import numpy as np
import pytest
from galleries import colour_model

from explainers.models.tasks import decide
from explainers.similar import index as index_module
from explainers.similar import load_gallery, similar_to_embedding
from explainers.similar.index import build_index, choose_index, index_bytes, search
from explainers.similar.store import write_gallery
from explainers.types import TaskInfo


def _unit(n: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_a_small_gallery_gets_an_exact_float32_index():
    assert choose_index(10_000, 1280).kind == "flat"


def test_a_gallery_over_the_float32_budget_gets_a_float16_scan():
    assert choose_index(60_000, 1280).kind == "flat-fp16"


def test_a_gallery_over_the_flat_limit_gets_an_inverted_file():
    choice = choose_index(2_000_000, 1280)
    assert (choice.kind, choice.nlist) == ("ivf", 1414) and 8 <= choice.nprobe < choice.nlist


def test_a_float16_scan_finds_the_same_neighbours_as_float32():
    vectors, queries = _unit(3000, 64), _unit(20, 64, seed=1)
    exact_choice = choose_index(3000, 64, float32_bytes=10**9)
    half_choice = choose_index(3000, 64, float32_bytes=0)
    assert (exact_choice.kind, half_choice.kind) == ("flat", "flat-fp16")
    exact, half = build_index(vectors, exact_choice), build_index(vectors, half_choice)
    for query in queries:
        (s32, r32), (s16, r16) = search(exact, exact_choice, query, 8), search(half, half_choice, query, 8)
        assert r16.tolist() == r32.tolist() and np.allclose(s16, s32, atol=2e-3)
    assert index_bytes(half) < 0.6 * index_bytes(exact)


def test_a_filtered_search_returns_only_allowed_rows():
    vectors = _unit(500, 16)
    allowed = np.arange(500) % 7 == 3
    sims, rows = search(
        build_index(vectors, choose_index(500, 16)), choose_index(500, 16), vectors[0], 5, allowed=allowed
    )
    assert all(r % 7 == 3 for r in rows)
    assert sims[0] == pytest.approx(float((vectors[allowed] @ vectors[0]).max()), abs=1e-6)


def test_above_a_lowered_threshold_the_gallery_is_an_inverted_file_that_finds_its_references(tmp_path, monkeypatch):
    monkeypatch.setattr(index_module, "FLAT_LIMIT", 500)
    task = TaskInfo("multiclass", ("a", "b", "c", "d"))
    model = colour_model(task)
    vectors, labels = _unit(3000, 32), np.random.default_rng(2).integers(0, 4, 3000)
    ids = [str(i) for i in range(3000)]
    write_gallery(tmp_path, model, embeddings=vectors, labels=labels, ids=ids, thumbnails=[b""] * 3000, details={})
    gallery = load_gallery(tmp_path, model, cache=False)
    assert gallery.choice.kind == "ivf" and "inverted file" in gallery.choice.words
    found = 0
    for row in range(0, 3000, 30):
        prediction = decide(task, np.eye(4, dtype=np.float32)[labels[row]] * 5)
        cases = similar_to_embedding(gallery, vectors[row], prediction, k=3)
        found += cases.neighbours[0].id == str(row)
        assert cases.nearest_unlike is not None and cases.nearest_unlike.label != task.names[labels[row]]
    assert found >= 95  # of 100: the query is itself a reference, so recall@1 should be near perfect
