"""Galleries: built from folders, labels files and data sets; loaded once, verified, refused with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import torch
from galleries import class_folder, colour_model, labelled_folder, solid

from explainers.errors import GalleryError
from explainers.similar import build_gallery, load_gallery
from explainers.types import TaskInfo

torch.set_num_threads(1)

TASK = TaskInfo("multiclass", ("T-shirt/top", "Trouser", "Bag"))
CLASSES = {"T-shirt_top": [(250, 0, 0), (200, 30, 30)], "Trouser": [(0, 250, 0)], "Bag": [(0, 0, 250)]}


@pytest.fixture
def model():
    return colour_model(TASK)


@pytest.fixture
def built(tmp_path, model):
    summary = build_gallery(model, class_folder(tmp_path / "refs", CLASSES), out_dir=tmp_path / "model" / "gallery")
    return summary


def test_a_gallery_from_class_folders_records_the_model_and_its_files(built, model):
    manifest = json.loads((built.folder / "manifest.json").read_text())
    assert manifest["model"] == {
        "id": model.model_id,
        "architecture": model.architecture,
        "weights_sha256": model.weights_sha256,
    }
    assert (manifest["count"], manifest["dim"], built.count, built.dim) == (4, 3, 4, 3)
    assert set(manifest["files"]) == {"embeddings.safetensors", "metadata.json", "thumbnails.bin"}
    assert manifest["sha256"] == built.sha256 and built.images_per_second > 0
    tensors = safetensors.numpy.load_file(str(built.folder / "embeddings.safetensors"))
    assert tensors["embeddings"].dtype == np.float32
    assert np.allclose(np.linalg.norm(tensors["embeddings"], axis=1), 1.0, atol=1e-5)


def test_class_folders_match_class_names_without_case_or_punctuation(built, model):
    gallery = load_gallery(built.folder, model)
    labels = dict(zip(gallery.ids, (gallery.names[i] for i in gallery.labels), strict=True))
    assert labels["T-shirt_top/0.png"] == "T-shirt/top" and labels["Bag/0.png"] == "Bag"


def test_progress_is_reported_until_every_image_is_done(tmp_path, model):
    seen: list[tuple[float, str]] = []
    refs = class_folder(tmp_path / "refs", CLASSES)
    build_gallery(model, refs, out_dir=tmp_path / "g", batch_size=3, progress=lambda f, m: seen.append((f, m)))
    assert [f for f, _ in seen] == [0.75, 1.0] and seen[-1][1].startswith("4/4 images")


def test_a_data_set_gives_the_same_gallery_as_its_folder(tmp_path, built, model):
    datasets = pytest.importorskip("datasets")
    refs = tmp_path / "refs"
    files = sorted(refs.rglob("*.png"))
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list(CLASSES))})
    rows = {"image": [str(f) for f in files], "label": [f.parent.name for f in files]}
    ds = datasets.Dataset.from_dict(rows, features=features)
    from_set = load_gallery(build_gallery(model, ds, out_dir=tmp_path / "from-set").folder, model)
    from_folder = load_gallery(built.folder, model)
    assert from_set.labels.tolist() == from_folder.labels.tolist()
    assert np.allclose(from_set.index.reconstruct_n(0, 4), from_folder.index.reconstruct_n(0, 4))


def test_a_parquet_file_builds_a_gallery(tmp_path, model):
    datasets = pytest.importorskip("datasets")
    files = [solid(tmp_path / f"{i}.png", rgb) for i, rgb in enumerate([(250, 0, 0), (0, 0, 250)])]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("string")})
    ds = datasets.Dataset.from_dict({"image": [str(f) for f in files], "label": ["Trouser", "Bag"]}, features=features)
    ds.to_parquet(str(tmp_path / "refs.parquet"))
    summary = build_gallery(model, tmp_path / "refs.parquet", out_dir=tmp_path / "g")
    assert summary.count == 2 and load_gallery(summary.folder, model).labels.tolist() == [1, 2]


def test_a_regression_folder_reads_values_from_jsonl(tmp_path):
    task = TaskInfo("regression", ("calories", "protein"), units=("kcal", "g"))
    model = colour_model(task)
    rows = [{"values": {"calories": 100, "protein": 3}}, {"calories": 250, "protein": 7.5}]
    refs = labelled_folder(tmp_path / "refs", rows, [(250, 0, 0), (0, 0, 250)])
    gallery = load_gallery(build_gallery(model, refs, out_dir=tmp_path / "g").folder, model)
    assert gallery.labels.tolist() == [[100.0, 3.0], [250.0, 7.5]]


def test_a_multilabel_folder_reads_one_column_per_label_from_csv(tmp_path):
    task = TaskInfo("multilabel", ("warm", "bright"), thresholds=(0.5, 0.5), abstain=0.25)
    model = colour_model(task)
    rows = [{"warm": 1, "bright": 0}, {"warm": "true", "bright": "yes"}, {"warm": 0, "bright": 0}]
    refs = labelled_folder(tmp_path / "refs", rows, [(250, 0, 0), (250, 250, 0), (0, 0, 50)], kind="csv")
    gallery = load_gallery(build_gallery(model, refs, out_dir=tmp_path / "g").folder, model)
    assert gallery.labels.tolist() == [[1, 0], [1, 1], [0, 0]]


def test_an_empty_folder_is_refused(tmp_path, model):
    (tmp_path / "refs").mkdir()
    with pytest.raises(GalleryError, match=r"no images in .*refs or its sub-folders"):
        build_gallery(model, tmp_path / "refs", out_dir=tmp_path / "g")


def test_a_folder_that_does_not_exist_is_refused(tmp_path, model):
    with pytest.raises(GalleryError, match="is not a folder"):
        build_gallery(model, tmp_path / "nowhere", out_dir=tmp_path / "g")


def test_images_outside_any_class_folder_are_refused_as_unlabelled(tmp_path, model):
    refs = class_folder(tmp_path / "refs", CLASSES)
    solid(refs / "stray.png", (9, 9, 9))
    with pytest.raises(GalleryError, match=r"1 image\(s\) in .* have no class: stray.png; put each in a sub-folder"):
        build_gallery(model, refs, out_dir=tmp_path / "g")


def test_images_missing_from_the_labels_file_are_refused_as_unlabelled(tmp_path, model):
    refs = labelled_folder(tmp_path / "refs", [{"label": "Bag"}], [(0, 0, 250)])
    solid(refs / "extra.png", (9, 9, 9))
    with pytest.raises(GalleryError, match=r"have no class: extra.png; list each in labels.jsonl"):
        build_gallery(model, refs, out_dir=tmp_path / "g")


def test_a_multilabel_folder_without_a_labels_file_is_refused(tmp_path):
    model = colour_model(TaskInfo("multilabel", ("a", "b"), thresholds=(0.5, 0.5), abstain=0.25))
    with pytest.raises(GalleryError, match="a multilabel model's references need one"):
        build_gallery(model, class_folder(tmp_path / "refs", {"a": [(1, 2, 3)]}), out_dir=tmp_path / "g")


def test_labels_the_model_does_not_know_are_refused(tmp_path, model):
    refs = class_folder(tmp_path / "refs", {**CLASSES, "Sneaker": [(5, 5, 5)]})
    with pytest.raises(GalleryError, match=r"'Sneaker' \(1\)\. The model knows: T-shirt/top, Trouser, Bag"):
        build_gallery(model, refs, out_dir=tmp_path / "g")


def test_a_labels_row_naming_a_missing_image_is_refused(tmp_path, model):
    refs = labelled_folder(tmp_path / "refs", [{"label": "Bag"}], [(0, 0, 250)])
    (refs / "labels.jsonl").write_text('{"file_name": "0.png", "label": "Bag"}\n{"file_name": "gone.png"}\n')
    with pytest.raises(GalleryError, match=r"row 2 names 'gone.png', which is not an image"):
        build_gallery(model, refs, out_dir=tmp_path / "g")


def test_an_unreadable_image_is_named(tmp_path, model):
    refs = class_folder(tmp_path / "refs", CLASSES)
    (refs / "Bag" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(GalleryError, match=r"reference Bag/broken.png: .*; fix or remove that image"):
        build_gallery(model, refs, out_dir=tmp_path / "g")


def test_a_gallery_for_other_weights_is_refused(built):
    other = colour_model(TASK, seed=1, model_id="other")
    with pytest.raises(GalleryError, match=r"built for other weights .* than other's .*rebuild it"):
        load_gallery(built.folder, other)


def test_a_gallery_for_other_labels_is_refused(built, model):
    relabelled = colour_model(TaskInfo("multiclass", ("a", "b", "c")))
    with pytest.raises(GalleryError, match="other names"):
        load_gallery(built.folder, relabelled)


def test_a_corrupt_embeddings_file_is_refused(built, model):
    path = built.folder / "embeddings.safetensors"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(GalleryError, match=r"embeddings\.safetensors in .* is corrupt or was altered"):
        load_gallery(built.folder, model, cache=False)


def test_a_missing_manifest_is_refused(built, model):
    (built.folder / "manifest.json").unlink()
    with pytest.raises(GalleryError, match=r"has no manifest\.json: it is not a gallery"):
        load_gallery(built.folder, model)


def test_a_manifest_that_is_not_json_is_refused(built, model):
    (built.folder / "manifest.json").write_text("{not json")
    with pytest.raises(GalleryError, match=r"manifest\.json is not readable JSON"):
        load_gallery(built.folder, model)


def test_an_edited_manifest_is_refused(built, model):
    path = built.folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"]["metadata.json"] = "0" * 64
    path.write_text(json.dumps(manifest))
    with pytest.raises(GalleryError, match="was altered"):
        load_gallery(built.folder, model)


def test_a_missing_thumbnails_file_is_refused(built, model):
    (built.folder / "thumbnails.bin").unlink()
    with pytest.raises(GalleryError, match=r"is missing thumbnails\.bin"):
        load_gallery(built.folder, model)


def test_a_folder_that_is_not_a_gallery_is_never_overwritten(tmp_path, model):
    keep = tmp_path / "weights" / "model.safetensors"
    keep.parent.mkdir()
    keep.write_bytes(b"precious")
    with pytest.raises(GalleryError, match="exists and is not a gallery"):
        build_gallery(model, class_folder(tmp_path / "refs", CLASSES), out_dir=keep.parent)
    assert keep.read_bytes() == b"precious"


def test_a_gallery_is_loaded_once_and_again_after_a_rebuild(tmp_path, built, model):
    first = load_gallery(tmp_path / "model", model)  # the model folder holding gallery/ will do
    assert load_gallery(built.folder, model) is first
    rebuilt = build_gallery(model, class_folder(tmp_path / "refs", CLASSES), out_dir=built.folder)
    again = load_gallery(built.folder, model)
    assert again is not first and again.sha256 == rebuilt.sha256 == first.sha256
    assert sorted(p.name for p in Path(built.folder).parent.iterdir()) == ["gallery"]
