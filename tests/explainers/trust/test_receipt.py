"""Receipts: a receipt fed back with the same image reproduces the same map; anything else is refused."""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch
from PIL import Image
from planted import coarse_classifier, planted_classifier, planted_regressor

from explainers import predict, prepare_image
from explainers.errors import ImageError, ModelSourceError, OptionError, TargetError
from explainers.methods import gradcam, integrated_gradients, occlusion
from explainers.trust import receipt
from explainers.trust import scorecard as quality
from explainers.types import LoadedModel

torch.set_num_threads(1)

METHODS = {
    "gradcam": (gradcam.explain, {}),
    "occlusion": (occlusion.explain, {"window": 8, "stride": 4}),
    "integrated_gradients": (integrated_gradients.explain, {"n_steps": 16, "baselines": "blur"}),
}


@pytest.fixture(scope="module")
def registry() -> dict[str, LoadedModel]:
    models = [planted_classifier(3), coarse_classifier(1), planted_regressor()]
    return {m.model_id: m for m in models}


def _loader(registry: dict[str, LoadedModel]):
    def load(model_id: str, revision: str | None) -> LoadedModel:
        return registry[model_id]

    return load


def _picture(tmp_path: Path, size: int, seed: int = 0, name: str = "picture.png") -> Path:
    rgb = np.random.default_rng(seed).integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
    path = tmp_path / name
    Image.fromarray(rgb).resize((size, size), Image.BILINEAR).save(path)
    return path


def _made(loaded: LoadedModel, path: Path, method: str, **extra):
    explain, options = METHODS[method]
    prepared = prepare_image(loaded, path)
    expl = explain(loaded, prepared.image, **{**options, **extra})
    card = quality.scorecard(loaded, prepared.image, expl, sanity=False)
    made = receipt.build(
        loaded, prepared, expl, card, {"scorecard": card.seconds}, prediction=predict(loaded, prepared)
    )
    return expl, json.loads(json.dumps(made.to_dict()))


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("model_id", ["planted-q3", "coarse-q1", "planted-halves"])
def test_a_receipt_with_the_same_image_reproduces_the_map(registry, tmp_path, model_id, method):
    loaded = registry[model_id]
    path = _picture(tmp_path, loaded.input_size[0])
    original, made = _made(loaded, path, method)
    again = receipt.replay(made, path, loader=_loader(registry))
    assert receipt.same_map(original, again)
    assert again.options == original.options and again.target == original.target
    assert again.score == pytest.approx(original.score, rel=1e-5)


def test_a_receipt_replays_a_lowers_target(registry, tmp_path):
    loaded = registry["planted-halves"]
    path = _picture(tmp_path, 64)
    prepared = prepare_image(loaded, path)
    target = dataclasses.replace(gradcam.explain(loaded, prepared.image).target, index=1, name="right", sign=-1)
    expl = gradcam.explain(loaded, prepared.image, target=target)
    made = receipt.build(loaded, prepared, expl).to_dict()
    assert made["target"] == {"name": "right", "index": 1, "kind": "regression", "direction": "lowers"}
    again = receipt.replay(made, path, loader=_loader(registry))
    assert again.target.sign == -1 and receipt.same_map(expl, again)


def test_the_receipt_records_everything_a_replay_needs(registry, tmp_path):
    loaded = registry["planted-q3"]
    path = _picture(tmp_path, 64)
    expl, made = _made(loaded, path, "occlusion")
    assert made["model"] == {
        "id": "planted-q3",
        "revision": None,
        "weights_sha256": loaded.weights_sha256,
        "architecture": loaded.architecture,
        "source": "local",
        "task": "multiclass",
        "units": None,
    }
    assert made["image"]["sha256"] == prepare_image(loaded, path).sha256
    assert made["image"]["width"] == made["image"]["height"] == 64 and made["image"]["grayscale"] is False
    assert made["method"] == "occlusion" and made["options"] == expl.options
    assert made["target"] == {"name": "evidence", "index": 0, "kind": "multiclass", "direction": "raises"}
    assert made["score"] == pytest.approx(expl.score)
    assert made["prediction"]["top"][0]["name"] in ("evidence", "other")
    assert made["scorecard"]["badge"] in ("pass", "warn", "fail")
    assert made["heatmap_sha256"] == receipt.heatmap_sha256(expl.heatmap)
    assert set(made["timings"]) >= {"scorecard", "explanation.total"}
    assert set(made["versions"]) == {"app", "torch", "timm", "captum", "numpy", "python"}
    assert made["versions"]["torch"] == torch.__version__
    assert datetime.datetime.fromisoformat(made["created"]).tzinfo is not None
    assert made["receipt_version"] == receipt.RECEIPT_VERSION


def test_app_version_matches_pyproject():
    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == receipt.APP_VERSION


def test_a_grayscale_picture_is_flagged(registry, tmp_path):
    loaded = registry["planted-q3"]
    path = tmp_path / "grey.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)).save(path)
    prepared = prepare_image(loaded, path)
    made = receipt.build(loaded, prepared, gradcam.explain(loaded, prepared.image))
    assert made.image["grayscale"] is True


def test_a_different_image_is_refused(registry, tmp_path):
    loaded = registry["planted-q3"]
    _, made = _made(loaded, _picture(tmp_path, 64), "gradcam")
    other = _picture(tmp_path, 64, seed=1, name="other.png")
    with pytest.raises(ImageError, match="exact file"):
        receipt.replay(made, other, loader=_loader(registry))


def test_a_re_saved_copy_of_the_image_is_refused(registry, tmp_path):
    loaded = registry["planted-q3"]
    path = _picture(tmp_path, 64)
    _, made = _made(loaded, path, "gradcam")
    copy = tmp_path / "copy.bmp"
    Image.open(path).save(copy)
    with pytest.raises(ImageError, match="sha256"):
        receipt.replay(made, copy, loader=_loader(registry))


def test_a_tampered_weights_hash_is_refused(registry, tmp_path):
    loaded = registry["planted-q3"]
    path = _picture(tmp_path, 64)
    _, made = _made(loaded, path, "gradcam")
    made["model"]["weights_sha256"] = "0" * 64
    with pytest.raises(ModelSourceError, match="different weights"):
        receipt.replay(made, path, loader=_loader(registry))


def test_other_weights_under_the_same_id_are_refused(registry, tmp_path):
    path = _picture(tmp_path, 64)
    _, made = _made(registry["planted-q3"], path, "gradcam")
    retrained = planted_classifier(3, seed=1)  # same id, same architecture, other weights
    with pytest.raises(ModelSourceError, match="different weights"):
        receipt.replay(made, path, loader=lambda model_id, revision: retrained)


def test_a_renamed_target_is_refused(registry, tmp_path):
    path = _picture(tmp_path, 64)
    _, made = _made(registry["planted-q3"], path, "gradcam")
    made["target"]["name"] = "cat"
    with pytest.raises(TargetError, match="labels changed"):
        receipt.replay(made, path, loader=_loader(registry))


def test_options_the_method_does_not_take_are_refused(registry, tmp_path):
    path = _picture(tmp_path, 64)
    _, made = _made(registry["planted-q3"], path, "gradcam")
    made["options"]["window"] = 8
    with pytest.raises(OptionError, match="do not fit gradcam"):
        receipt.replay(made, path, loader=_loader(registry))


def test_an_unknown_method_is_refused(registry, tmp_path):
    path = _picture(tmp_path, 64)
    _, made = _made(registry["planted-q3"], path, "gradcam")
    made["method"] = "loading"
    with pytest.raises(OptionError, match="unknown method"):
        receipt.replay(made, path, loader=_loader(registry))


@pytest.mark.parametrize("broken", [{}, {"model": {}}, [], "receipt"])
def test_something_that_is_not_a_receipt_is_refused(broken, tmp_path):
    with pytest.raises(OptionError, match="not a receipt"):
        receipt.replay(broken, _picture(tmp_path, 64))


def test_a_local_model_needs_a_loader(registry, tmp_path):
    path = _picture(tmp_path, 64)
    _, made = _made(registry["planted-q3"], path, "gradcam")
    with pytest.raises(ModelSourceError, match="local model folder"):
        receipt.replay(made, path)


def test_same_map_within_float_tolerance():
    a = np.random.default_rng(0).normal(size=(8, 8)).astype(np.float32)
    assert receipt.same_map(a, a.copy())
    assert receipt.same_map(a, a + 1e-7 * np.abs(a).max())
    assert not receipt.same_map(a, a + 1e-2 * np.abs(a).max())
    assert not receipt.same_map(a, a[:4])
    nan = a.copy()
    nan[0, 0] = np.nan
    assert not receipt.same_map(nan, nan)
    assert receipt.same_map(np.zeros((2, 2)), np.zeros((2, 2)))


def test_heatmap_sha256_sees_shape_and_values():
    a = np.arange(6, dtype=np.float32)
    assert receipt.heatmap_sha256(a.reshape(2, 3)) != receipt.heatmap_sha256(a.reshape(3, 2))
    assert receipt.heatmap_sha256(a.reshape(2, 3)) == receipt.heatmap_sha256(a.reshape(2, 3).astype(np.float64))


def test_read_receipt_reads_the_object_the_app_wrote(tmp_path):
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps({"method": "gradcam", "options": {}}))
    assert receipt.read_receipt(path) == {"method": "gradcam", "options": {}}
    assert receipt.read_receipt(str(path)) == {"method": "gradcam", "options": {}}


def test_read_receipt_takes_the_first_of_a_compare_runs_list(tmp_path):
    path = tmp_path / "receipts.json"
    path.write_text(json.dumps([{"method": "gradcam"}, {"method": "occlusion"}]))
    assert receipt.read_receipt(path) == {"method": "gradcam"}


def test_read_receipt_of_an_empty_list_is_an_empty_receipt_that_replay_refuses(tmp_path):
    path = tmp_path / "receipts.json"
    path.write_text("[]")
    data = receipt.read_receipt(path)
    assert data == {}
    with pytest.raises(OptionError, match="not a receipt"):
        receipt.replay(data, np.zeros((32, 32, 3), np.uint8))


@pytest.mark.parametrize(
    "text", ["{not json", "", "[" * 100_000 + "]" * 100_000], ids=["broken", "empty", "deeply-nested"]
)
def test_read_receipt_of_unreadable_json_says_so(tmp_path, text):
    path = tmp_path / "receipt.json"
    path.write_text(text)
    with pytest.raises(OptionError, match="the receipt is not readable JSON"):
        receipt.read_receipt(path)


def test_read_receipt_of_bytes_that_are_not_utf8_says_so(tmp_path):
    path = tmp_path / "receipt.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(OptionError, match="the receipt is not readable JSON"):
        receipt.read_receipt(path)


def test_read_receipt_of_a_missing_file_says_so(tmp_path):
    with pytest.raises(OptionError, match="the receipt is not readable JSON"):
        receipt.read_receipt(tmp_path / "missing.json")


@pytest.mark.parametrize("value", [5, "text", None, [5]])
def test_read_receipt_of_json_that_is_not_an_object_is_refused(tmp_path, value):
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(value))
    with pytest.raises(OptionError, match="must be a JSON object"):
        receipt.read_receipt(path)


def test_read_map_gives_float32(tmp_path):
    path = tmp_path / "map.npy"
    np.save(path, np.arange(6, dtype=np.float64).reshape(2, 3))
    kept = receipt.read_map(path)
    assert kept.dtype == np.float32 and kept.shape == (2, 3) and kept[1, 2] == 5.0


def test_read_map_refuses_a_file_that_is_not_npy(tmp_path):
    path = tmp_path / "map.npy"
    path.write_text("not an array")
    with pytest.raises(OptionError, match=r"not a \.npy array"):
        receipt.read_map(path)


def test_read_map_refuses_a_pickled_array(tmp_path):
    path = tmp_path / "map.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(OptionError, match=r"not a \.npy array"):
        receipt.read_map(path)


@pytest.mark.parametrize(
    "array",
    [np.zeros((2, 2, 3), np.float32), np.zeros(4, np.float32), np.zeros((2, 2), np.int64)],
    ids=["3-D", "1-D", "integer"],
)
def test_read_map_refuses_anything_but_a_2d_float_array(tmp_path, array):
    path = tmp_path / "map.npy"
    np.save(path, array)
    with pytest.raises(OptionError, match="must be a 2-D float array"):
        receipt.read_map(path)


@pytest.mark.slow
def test_the_default_model_replays_from_a_receipt_file(tmp_path):
    import skimage.data

    import explainers

    path = tmp_path / "coffee.png"
    Image.fromarray(skimage.data.coffee()).save(path)
    loaded = explainers.load_model(None)
    prepared = prepare_image(loaded, path)
    expl = gradcam.explain(loaded, prepared.image)
    saved = tmp_path / "receipt.json"
    saved.write_text(json.dumps(receipt.build(loaded, prepared, expl).to_dict()))
    again = receipt.replay(json.loads(saved.read_text()), path)
    assert again.target.name == "espresso"
    assert receipt.same_map(expl, again)


SIMILAR = {
    "gallery": {"sha256": "e" * 64, "count": 1500, "index": "exact inner product (float32)"},
    "task": "multiclass",
    "k": 4,
    "prediction": "evidence",
    "neighbours": [{"id": f"ref-{i}", "label": "evidence", "similarity": 0.9 - i / 10} for i in range(4)],
    "agreement": 1.0,
    "nearest_unlike": {"id": "ref-9", "label": "other", "similarity": 0.4},
    "votes": [{"label": "evidence", "count": 4}],
}


def test_a_receipt_records_the_gallery_its_similar_cases_came_from(registry, tmp_path):
    loaded = registry["planted-q3"]
    prepared = prepare_image(loaded, _picture(tmp_path, 64))
    made = receipt.build(loaded, prepared, gradcam.explain(loaded, prepared.image), similar=SIMILAR).to_dict()
    assert json.loads(json.dumps(made))["similar"]["gallery"]["sha256"] == "e" * 64


def test_a_receipt_without_similar_cases_records_none(registry, tmp_path):
    loaded = registry["planted-q3"]
    prepared = prepare_image(loaded, _picture(tmp_path, 64))
    assert receipt.build(loaded, prepared, gradcam.explain(loaded, prepared.image)).to_dict()["similar"] is None
