"""The Fashion-MNIST demo end to end: a local model folder that loads, predicts real test images, and whose gallery
finds neighbours of the true class."""

from __future__ import annotations

import json

import pytest
import torch
from fashion import TEST

from explainers.models.loading import load_model
from explainers.models.predict import prepare
from explainers.models.sources import parse_source
from explainers.similar.labels import label_key
from explainers.similar.search import similar
from explainers.similar.store import load_gallery

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def demo_cases(fashion_demo):
    """(true class, prediction, similar cases) for each held-aside test image."""
    model = load_model(parse_source(str(fashion_demo.model_dir), allow_local=True))
    gallery = load_gallery(fashion_demo.model_dir / "gallery", model)
    out = []
    for path in sorted(fashion_demo.test.rglob("*.png")):
        prepared, prediction = prepare(model, str(path))
        out.append((path.parent.name, prediction, similar(model, gallery, prepared, prediction, k=5)))
    return out


def test_the_demo_folder_loads_as_a_local_timm_model(fashion_demo):
    model = load_model(parse_source(str(fashion_demo.model_dir), allow_local=True))
    assert (model.architecture, model.task.kind, model.input_size) == ("tf_efficientnet_lite0", "multiclass", (64, 64))
    assert model.task.names[0] == "T-shirt/top" and len(model.task.names) == 10
    assert json.loads((fashion_demo.root / "demo.json").read_text())["weights_sha256"] == model.weights_sha256


def test_the_demo_writes_held_aside_test_images_and_examples_of_every_class(fashion_demo):
    assert len(list(fashion_demo.test.rglob("*.png"))) == TEST
    assert len([p for p in fashion_demo.examples.iterdir() if p.is_dir()]) == 10
    train_ids = {p.stem for p in fashion_demo.references.rglob("*.png")}
    assert all(p.stem.startswith("t10k-") and p.stem not in train_ids for p in fashion_demo.test.rglob("*.png"))


def test_the_demo_model_names_most_real_test_images_right(demo_cases):
    right = sum(label_key(truth) == label_key(prediction.decision) for truth, prediction, _ in demo_cases)
    assert right / len(demo_cases) > 0.5


def test_the_nearest_reference_has_the_true_class_for_at_least_80_percent_of_test_images(demo_cases):
    right = sum(label_key(truth) == label_key(cases.neighbours[0].label) for truth, _, cases in demo_cases)
    assert right / len(demo_cases) >= 0.8


def test_the_nearest_unlike_neighbour_never_has_the_predicted_class(demo_cases):
    for _, prediction, cases in demo_cases:
        assert cases.nearest_unlike is not None and cases.nearest_unlike.label != prediction.decision


def test_the_demo_gallery_is_the_one_demo_json_names(fashion_demo, demo_cases):
    info = json.loads((fashion_demo.root / "demo.json").read_text())
    assert {cases.gallery_sha256 for _, _, cases in demo_cases} == {info["gallery_sha256"]}
    assert info["gallery_images_per_second"] > 0
