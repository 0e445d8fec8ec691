"""Corrections in the library: answers read in the model's terms, records kept (or not) as consent says, the store,
the rate limit, the export that datasets reads, and the Hub mirror against the local Hub stand-in."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from galleries import colour_model, solid
from hub_stub import HubStub
from PIL import Image

from explainers.corrections import CorrectionStore, HubMirror, Intake, RateLimiter, export, make_record, parse_answer
from explainers.corrections.store import SCHEMA_VERSION
from explainers.errors import BusyError, CorrectionError, ImageError
from explainers.types import TaskInfo

FASHION = TaskInfo("multiclass", ("T-shirt/top", "Trouser", "Pullover", "Shirt"))
TAGS = TaskInfo("multilabel", ("cat", "dog", "car, red"), thresholds=(0.5, 0.5, 0.5), abstain=0.25)
NUTRITION = TaskInfo("regression", ("calories", "mass"), units=("kcal", "g"))


@pytest.fixture
def model():
    return colour_model(FASHION)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return solid(tmp_path / "red.png", (200, 30, 30))


@pytest.fixture
def intake(tmp_path: Path) -> Intake:
    return Intake(CorrectionStore(tmp_path / "data"), None, RateLimiter(1000, 60.0))


# ------------------------------------------------------------------------------------------------------- answers


@pytest.mark.parametrize(
    ("typed", "label"),
    [("Shirt", "Shirt"), ("  shirt ", "Shirt"), ("t-shirt top", "T-shirt/top"), ("T-shirt_top", "T-shirt/top")],
)
def test_a_class_is_read_in_the_models_own_names(typed: str, label: str) -> None:
    assert parse_answer(FASHION, typed).label == label


def test_labels_are_a_set_in_output_order_and_a_name_may_hold_a_comma() -> None:
    assert parse_answer(TAGS, "dog, cat, dog").labels == ("cat", "dog")
    assert parse_answer(TAGS, "car, red").labels == ("car, red",)
    assert parse_answer(TAGS, '["car, red", "cat"]').labels == ("cat", "car, red")
    assert parse_answer(TAGS, "none").labels == ()


def test_values_are_read_named_or_in_order_with_units() -> None:
    named = parse_answer(NUTRITION, "mass = 200 g, calories = 250 kcal")
    assert named.values == (250.0, 200.0) and named.units == ("kcal", "g")
    assert parse_answer(NUTRITION, "250, 200").values == (250.0, 200.0)
    assert parse_answer(NUTRITION, "250 kcal; 2e2 g").text == "250 kcal, 200 g"


def test_an_unknown_class_is_refused_with_the_models_classes() -> None:
    with pytest.raises(CorrectionError, match=r"no class named 'Sweater'.*T-shirt/top, Trouser, Pullover, Shirt"):
        parse_answer(FASHION, "Sweater")


def test_an_unknown_label_is_refused() -> None:
    with pytest.raises(CorrectionError, match="no label named 'cow'"):
        parse_answer(TAGS, "cat, cow")


def test_the_wrong_number_of_values_is_refused() -> None:
    with pytest.raises(CorrectionError, match=r"expected 2 values \(calories, mass\), got 1"):
        parse_answer(NUTRITION, "250 kcal")


@pytest.mark.parametrize("typed", ["nan, 200", "NaN kcal, 1", "inf, 1", "-infinity, 1", "1e300, 1"])
def test_a_value_that_is_not_a_finite_number_is_refused(typed: str) -> None:
    with pytest.raises(CorrectionError, match="calories must be a finite number"):
        parse_answer(NUTRITION, typed)


def test_a_value_in_another_unit_is_refused() -> None:
    with pytest.raises(CorrectionError, match="calories is measured in kcal, got 'g'"):
        parse_answer(NUTRITION, "250 g, 200 g")


def test_a_huge_answer_is_refused() -> None:
    with pytest.raises(CorrectionError, match="1000000 characters long"):
        parse_answer(FASHION, "Shirt" + "x" * 999_995)


@pytest.mark.parametrize("typed", ["", "   ", "\n\t"])
def test_an_empty_answer_is_refused_with_how_to_write_one(typed: str) -> None:
    with pytest.raises(CorrectionError, match="no answer was given; type the right class"):
        parse_answer(FASHION, typed)


@pytest.mark.parametrize("typed", ["Shirt\x00", "\u202eShirt", "Sh\u200birt"])
def test_control_and_invisible_characters_are_refused(typed: str) -> None:
    with pytest.raises(CorrectionError, match="control or invisible"):
        parse_answer(FASHION, typed)


@pytest.mark.parametrize("typed", [None, 3, ["Shirt"]])
def test_an_answer_that_is_not_text_is_refused(typed: object) -> None:
    with pytest.raises(CorrectionError, match="must be text"):
        parse_answer(FASHION, typed)


# ------------------------------------------------------------------------------------------------------- records


def test_a_consented_png_is_kept_byte_for_byte_with_model_prediction_and_time(intake: Intake, model, photo) -> None:
    record = intake.submit(model, str(photo), "Shirt", consent=True, visitor="a")
    stored = intake.store.get(record.id)
    assert stored is not None and stored.image == photo.read_bytes() and stored.image_ext == "png"
    assert stored.answer["label"] == "Shirt" and stored.prediction["decision"] in FASHION.names
    assert (stored.model_id, stored.weights_sha256) == (model.model_id, model.weights_sha256)
    assert stored.created.endswith("+00:00") and stored.consent is True


def test_without_consent_only_the_images_sha256_is_kept(intake: Intake, model, photo) -> None:
    record = intake.submit(model, str(photo), "Shirt", consent=False, visitor="a")
    stored = intake.store.get(record.id)
    assert stored is not None and stored.image is None and stored.image_ext is None
    assert len(stored.image_sha256) == 64 and record.summary()["image"]["kept"] is False


def test_a_gif_or_an_array_is_kept_as_png(model, tmp_path: Path) -> None:
    gif = tmp_path / "x.gif"
    Image.new("RGB", (32, 32), (1, 2, 3)).save(gif)
    for source in (str(gif), np.full((20, 20, 3), 9, np.uint8)):
        record = make_record(model, source, "Shirt", consent=True)
        assert record.image_ext == "png" and Image.open(io.BytesIO(record.image or b"")).format == "PNG"


def test_no_image_is_refused_and_nothing_is_stored(intake: Intake, model) -> None:
    for missing in (None, ""):
        with pytest.raises(CorrectionError, match="no image was given"):
            intake.submit(model, missing, "Shirt", consent=True, visitor="a")
    assert intake.store.count() == 0


def test_a_file_that_is_not_an_image_is_refused_and_nothing_is_stored(intake: Intake, model, tmp_path: Path) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("not a picture")
    with pytest.raises(ImageError):
        intake.submit(model, str(fake), "Shirt", consent=False, visitor="a")
    assert intake.store.count() == 0


def test_a_bad_answer_costs_no_prediction_and_stores_nothing(intake: Intake, model, photo) -> None:
    def predict():
        raise AssertionError("predicted although the answer was bad")

    with pytest.raises(CorrectionError):
        intake.submit(model, str(photo), "Sweater", consent=True, visitor="a", prediction=predict)
    assert intake.store.count() == 0


@pytest.mark.parametrize("consent", [None, "yes", 1])
def test_consent_must_be_true_or_false(intake: Intake, model, photo, consent: object) -> None:
    with pytest.raises(CorrectionError, match="consent must be true or false"):
        intake.submit(model, str(photo), "Shirt", consent=consent, visitor="a")
    assert intake.store.count() == 0


def test_each_visitor_is_rate_limited_on_their_own(model, photo, tmp_path: Path) -> None:
    now = [0.0]
    intake = Intake(CorrectionStore(tmp_path), None, RateLimiter(3, 60.0, clock=lambda: now[0]))
    for _ in range(3):
        intake.submit(model, str(photo), "Shirt", consent=False, visitor="a")
    with pytest.raises(BusyError, match="at most 3 in 60 s; try again in 60 s"):
        intake.submit(model, str(photo), "Shirt", consent=False, visitor="a")
    intake.submit(model, str(photo), "Shirt", consent=False, visitor="b")
    now[0] = 60.0
    intake.submit(model, str(photo), "Shirt", consent=False, visitor="a")
    assert intake.store.count() == 5


# --------------------------------------------------------------------------------------------------------- store


def test_the_store_is_wal_with_a_schema_version_and_refuses_a_newer_one(tmp_path: Path) -> None:
    store = CorrectionStore(tmp_path)
    with store._connect() as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(CorrectionError, match="newer than this app's"):
        CorrectionStore(tmp_path)


def test_a_full_store_refuses_new_corrections(intake: Intake, model, photo, monkeypatch) -> None:
    monkeypatch.setattr("explainers.corrections.store.MAX_RECORDS", 2)
    for _ in range(2):
        intake.submit(model, str(photo), "Shirt", consent=False, visitor="a")
    with pytest.raises(CorrectionError, match="store is full"):
        intake.submit(model, str(photo), "Shirt", consent=False, visitor="a")
    assert intake.store.count() == 2


def test_a_fine_tune_marks_the_corrections_it_used(intake: Intake, model, photo) -> None:
    ids = [intake.submit(model, str(photo), "Shirt", consent=True, visitor="a").id for _ in range(3)]
    assert intake.store.count(pending_only=True) == 3 and intake.store.last_finetune() is None
    intake.store.record_finetune("acme/x", "a" * 40, {"seconds": 1.0}, ids[:2])
    assert intake.store.count(pending_only=True) == 1
    assert intake.store.last_finetune()["figures"] == {"seconds": 1.0}
    assert [r.id for r in intake.store.records(pending_only=True)] == ids[2:]


# -------------------------------------------------------------------------------------------------------- export


def test_the_export_is_an_imagefolder_that_datasets_reads(intake: Intake, model, photo, tmp_path: Path) -> None:
    import datasets

    kept = [intake.submit(model, str(photo), a, consent=True, visitor="a").id for a in ("Shirt", "Trouser")]
    intake.submit(model, str(photo), "Pullover", consent=False, visitor="a")
    summary = export(intake.store, tmp_path / "export")
    assert list(summary.ids) == kept and summary.without_image == 1
    ds = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "export"), split="train")
    assert sorted(ds["label"]) == ["Shirt", "Trouser"] and sorted(ds["id"]) == sorted(kept)
    assert ds[0]["image"].size == (32, 32)


def test_the_export_refuses_a_folder_with_files_and_an_export_with_nothing(intake: Intake, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("mine")
    with pytest.raises(CorrectionError, match="not empty"):
        export(intake.store, tmp_path / "full")
    with pytest.raises(CorrectionError, match="no correction with an image"):
        export(intake.store, tmp_path / "empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "full"]


def test_regression_and_multilabel_answers_export_in_their_own_column(tmp_path: Path, photo) -> None:
    store = CorrectionStore(tmp_path / "data")
    for task, answer in ((NUTRITION, "250 kcal, 200 g"), (TAGS, "dog")):
        store.add(make_record(colour_model(task), str(photo), answer, consent=True))
    export(store, tmp_path / "export")
    rows = [json.loads(line) for line in (tmp_path / "export" / "metadata.jsonl").read_text().splitlines()]
    assert [(r["values"], r["labels"], r["label"]) for r in rows] == [
        ([250.0, 200.0], None, None),
        (None, ["dog"], None),
    ]
    assert all(math.isfinite(v) for v in rows[0]["values"])


# ----------------------------------------------------------------------------------------------------------- hub


def test_the_hub_mirror_pushes_records_to_a_dataset_repo(tmp_path: Path, model, photo, monkeypatch) -> None:
    # huggingface_hub read HF_HUB_OFFLINE=1 (the test runner's) at import; it would block even 127.0.0.1.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    with HubStub() as stub:
        mirror = HubMirror("acme/corrections", tmp_path / "hub", every=60, token="hf_stub", endpoint=stub.url)
        intake = Intake(CorrectionStore(tmp_path / "data"), mirror, None)
        kept = intake.submit(model, str(photo), "Shirt", consent=True, visitor="a")
        hashed = intake.submit(model, str(photo), "Trouser", consent=False, visitor="a")
        mirror.stop()
        files = stub.files("acme/corrections", repo_type="dataset")
    session = mirror.session
    assert files[f"records/{session}/{kept.id}.png"] == photo.read_bytes()
    rows = [json.loads(line) for line in files[f"records/{session}/metadata.jsonl"].decode().splitlines()]
    assert [(r["id"], r["label"], r["file_name"]) for r in rows] == [(kept.id, "Shirt", f"{kept.id}.png")]
    fingerprint = json.loads(files[f"fingerprints/{session}.jsonl"])
    assert fingerprint["id"] == hashed.id and fingerprint["image_sha256"] == hashed.image_sha256
    assert not any(hashed.id in name for name in files)
