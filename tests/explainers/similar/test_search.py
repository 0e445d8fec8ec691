"""Similar cases: the nearest references are the known nearest ones, and the nearest unlike neighbour always differs."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from galleries import class_folder, colour_model, labelled_folder, solid

from explainers.errors import GalleryError, OptionError
from explainers.models.predict import prepare
from explainers.models.tasks import decide
from explainers.similar import build_gallery, load_gallery, similar, similar_to_embedding
from explainers.similar.store import write_gallery
from explainers.types import TaskInfo

torch.set_num_threads(1)

COLOURS = ("red", "green", "blue")
REFERENCES = {
    "red": [(250, 0, 0), (200, 30, 30)],
    "green": [(0, 250, 0), (30, 200, 30)],
    "blue": [(0, 0, 250), (30, 30, 200), (120, 0, 200)],
}
PURPLE = (110, 0, 210)


def _embedding(rgb) -> np.ndarray:
    """What ColourNet makes of a solid colour: the normalised pixel value (mean 0.5, std 0.5), L2-normalised."""
    v = (np.asarray(rgb, dtype=np.float64) / 255 - 0.5) / 0.5
    return v / np.linalg.norm(v)


def _expected_order(query_rgb) -> list[tuple[str, float]]:
    refs = [(f"{name}/{i}.png", rgb) for name, colours in REFERENCES.items() for i, rgb in enumerate(colours)]
    sims = [(ref_id, float(_embedding(rgb) @ _embedding(query_rgb))) for ref_id, rgb in refs]
    return sorted(sims, key=lambda item: -item[1])


def _predicting(model, name: str):
    """A prediction of class ``name`` (the search reads the decision, not how it was reached)."""
    logits = np.full(model.task.num_outputs, -5.0, dtype=np.float32)
    logits[model.task.names.index(name)] = 5.0
    return decide(model.task, logits)


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    root = tmp_path_factory.mktemp("colours")
    model = colour_model(TaskInfo("multiclass", COLOURS))
    build_gallery(model, class_folder(root / "refs", REFERENCES), out_dir=root / "model" / "gallery")
    query = solid(root / "purple.png", PURPLE)
    return model, load_gallery(root / "model", model), prepare(model, str(query))[0]


def test_the_nearest_references_are_the_ones_closest_in_colour(colours):
    model, gallery, prepared = colours
    cases = similar(model, gallery, prepared, _predicting(model, "blue"), k=4)
    expected = _expected_order(PURPLE)[:4]
    assert [n.id for n in cases.neighbours] == [ref_id for ref_id, _ in expected]
    assert [n.similarity for n in cases.neighbours] == pytest.approx([s for _, s in expected], abs=1e-5)
    assert cases.neighbours[0].label == "blue"


def test_agreement_is_the_share_of_neighbours_labelled_as_predicted(colours):
    model, gallery, prepared = colours
    expected = [ref_id.split("/")[0] for ref_id, _ in _expected_order(PURPLE)[:5]]
    cases = similar(model, gallery, prepared, _predicting(model, "blue"), k=5)
    assert cases.agreement == pytest.approx(expected.count("blue") / 5)
    assert dict(cases.votes)["blue"] == expected.count("blue")


def test_the_nearest_unlike_neighbour_is_the_closest_reference_of_another_class(colours):
    model, gallery, prepared = colours
    first_other = next((i, s) for i, s in _expected_order(PURPLE) if not i.startswith("blue/"))
    cases = similar(model, gallery, prepared, _predicting(model, "blue"), k=1)  # k=1: found beyond the neighbours
    assert cases.nearest_unlike is not None
    assert (cases.nearest_unlike.id, cases.nearest_unlike.similarity) == (first_other[0], pytest.approx(first_other[1]))


def test_the_nearest_unlike_neighbour_of_a_wrong_prediction_is_the_nearest_reference(colours):
    model, gallery, prepared = colours
    cases = similar(model, gallery, prepared, _predicting(model, "red"), k=3)
    assert cases.nearest_unlike == cases.neighbours[0]
    assert "none is labelled red" in cases.sentence


def test_the_nearest_unlike_neighbour_always_has_another_label(tmp_path):
    rng = np.random.default_rng(0)
    task = TaskInfo("multiclass", tuple(f"c{i}" for i in range(5)))
    model = colour_model(task)
    vectors = rng.standard_normal((400, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = rng.integers(0, 5, 400)
    gallery = _synthetic(tmp_path, model, vectors, labels)
    for query in vectors[:40] + 0.1 * rng.standard_normal((40, 16)).astype(np.float32):
        query /= np.linalg.norm(query)
        for predicted in task.names:
            cases = similar_to_embedding(gallery, query, _predicting(model, predicted), k=8)
            unlike = cases.nearest_unlike
            assert unlike is not None and unlike.label != predicted
            others = vectors[labels != task.names.index(predicted)] @ query
            assert unlike.similarity == pytest.approx(float(others.max()), abs=1e-5)


def test_a_gallery_of_one_class_has_no_unlike_neighbour(tmp_path):
    model = colour_model(TaskInfo("multiclass", COLOURS))
    build_gallery(model, class_folder(tmp_path / "refs", {"blue": REFERENCES["blue"]}), out_dir=tmp_path / "g")
    prepared, _ = prepare(model, str(solid(tmp_path / "q.png", PURPLE)))
    cases = similar(model, load_gallery(tmp_path / "g", model), prepared, _predicting(model, "blue"), k=2)
    assert cases.nearest_unlike is None and cases.agreement == 1.0
    assert "every reference in the gallery is labelled blue" in cases.sentence


def test_k_larger_than_the_gallery_returns_every_reference(colours):
    model, gallery, prepared = colours
    assert len(similar(model, gallery, prepared, _predicting(model, "blue"), k=20).neighbours) == gallery.count


def test_k_of_zero_is_refused(colours):
    model, gallery, prepared = colours
    with pytest.raises(OptionError, match="k must be a whole number from 1 to 64"):
        similar(model, gallery, prepared, _predicting(model, "blue"), k=0)


def test_k_above_the_maximum_is_refused(colours):
    model, gallery, prepared = colours
    with pytest.raises(OptionError, match="got 65"):
        similar(model, gallery, prepared, _predicting(model, "blue"), k=65)


def test_a_gallery_of_other_weights_is_refused_at_search(colours):
    _, gallery, prepared = colours
    other = colour_model(TaskInfo("multiclass", COLOURS), seed=1)
    with pytest.raises(GalleryError, match="built for weights"):
        similar(other, gallery, prepared, _predicting(other, "blue"))


def test_a_prediction_of_another_task_is_refused(colours):
    model, gallery, prepared = colours
    values = decide(TaskInfo("regression", ("a", "b", "c")), np.zeros(3, dtype=np.float32))
    with pytest.raises(GalleryError, match="regression task"):
        similar(model, gallery, prepared, values)


def test_the_api_view_is_json_with_thumbnails_as_data_uris(colours):
    model, gallery, prepared = colours
    cases = similar(model, gallery, prepared, _predicting(model, "blue"), k=3)
    data = json.loads(json.dumps(cases.to_dict()))
    assert data["gallery"]["sha256"] == gallery.sha256 and data["k"] == 3
    assert all(n["thumbnail"].startswith("data:image/jpeg;base64,") for n in data["neighbours"])
    assert "thumbnail" not in json.dumps(cases.summary())
    assert cases.neighbours[0].thumbnail.shape == (32, 32, 3)
    assert set(cases.timings) == {"embed", "search"}


def test_threads_searching_at_once_get_the_same_cases(colours):
    model, gallery, prepared = colours
    prediction = _predicting(model, "blue")
    expected = similar(model, gallery, prepared, prediction, k=5).summary()
    results: list[dict] = []

    def run() -> None:
        results.extend(similar(model, gallery, prepared, prediction, k=5).summary() for _ in range(10))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 40 and all(r == expected for r in results)


def test_multilabel_cases_are_given_per_label(tmp_path):
    task = TaskInfo("multilabel", ("warm", "bright"), thresholds=(0.5, 0.5), abstain=0.25)
    model = colour_model(task)
    rows = [{"labels": "warm;bright"}, {"labels": "warm"}, {"labels": ""}, {"labels": "bright"}]
    colours = [(250, 200, 50), (200, 20, 20), (10, 10, 60), (220, 250, 250)]
    build_gallery(model, labelled_folder(tmp_path / "refs", rows, colours, kind="csv"), out_dir=tmp_path / "g")
    gallery = load_gallery(tmp_path / "g", model)
    prepared, _ = prepare(model, str(solid(tmp_path / "q.png", (240, 190, 60))))
    prediction = decide(task, np.array([3.0, 3.0], dtype=np.float32))  # warm and bright
    cases = similar(model, gallery, prepared, prediction, k=2)
    assert cases.neighbours[0].label == "warm, bright"
    by_name = {c.name: c for c in cases.labels}
    assert by_name["warm"].predicted and by_name["bright"].predicted
    warm_labels = ["warm" in n.label.split(", ") for n in cases.neighbours]
    assert by_name["warm"].agreement == pytest.approx(np.mean(warm_labels))
    for name, c in by_name.items():
        assert c.nearest_unlike is not None and name not in c.nearest_unlike.label.split(", ")
    assert cases.nearest_unlike is not None and cases.nearest_unlike.label != "warm, bright"
    assert "carry exactly the predicted labels (warm, bright)" in cases.sentence


def test_regression_cases_set_the_neighbours_values_against_the_prediction(tmp_path):
    task = TaskInfo("regression", ("calories",), units=("kcal",))
    model = colour_model(task)
    rows = [{"calories": 100}, {"calories": 120}, {"calories": 400}]
    colours = [(250, 0, 0), (240, 10, 10), (0, 0, 250)]
    build_gallery(model, labelled_folder(tmp_path / "refs", rows, colours), out_dir=tmp_path / "g")
    gallery = load_gallery(tmp_path / "g", model)
    prepared, _ = prepare(model, str(solid(tmp_path / "q.png", (245, 5, 5))))
    prediction = decide(task, np.array([150.0], dtype=np.float32))
    cases = similar(model, gallery, prepared, prediction, k=2)
    (values,) = cases.values
    assert (values.predicted, values.low, values.high, values.mean) == (150.0, 100.0, 120.0, 110.0)
    assert cases.agreement is None and cases.nearest_unlike is None
    assert cases.neighbours[0].label in ("calories 100 kcal", "calories 120 kcal")
    assert cases.sentence.endswith("calories runs from 100 to 120 kcal (median 110), against a predicted 150 kcal.")


def _synthetic(folder: Path, model, vectors: np.ndarray, labels: np.ndarray):
    thumbs = [b"\xff\xd8"] * len(vectors)  # never decoded here
    ids = [f"ref-{i}" for i in range(len(vectors))]
    write_gallery(folder / "g", model, embeddings=vectors, labels=labels, ids=ids, thumbnails=thumbs, details={})
    return load_gallery(folder / "g", model)
