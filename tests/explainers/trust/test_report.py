"""Report: fixed templates from the receipt; bands, regions, agreement, caveats and the clinical note."""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pytest
import torch
from planted import planted_classifier, planted_regressor

from explainers import prepare_image
from explainers.methods import gradcam
from explainers.models.tasks import decide
from explainers.trust import receipt
from explainers.trust.evidence import REGIONS, evidence
from explainers.trust.report import confidence_band, is_medical, report
from explainers.types import TaskInfo

torch.set_num_threads(1)

SIZE = 90  # divisible by 3: each named region is a 30 x 30 block


def _blob(row: float, col: float, *, size: int = SIZE, radius: float = 6.0) -> np.ndarray:
    """A map whose positive evidence is a round blob centred in region (row, col) of the 3 x 3 grid."""
    y, x = np.mgrid[:size, :size]
    cy, cx = (row + 0.5) * size / 3 - 0.5, (col + 0.5) * size / 3 - 0.5
    return np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * radius**2)).astype(np.float32)


def _receipt(
    *,
    probabilities: tuple[float, ...] = (0.95, 0.05),
    heatmap: np.ndarray | None = None,
    model_id: str = "acme/flowers",
    names: tuple[str, ...] = ("rose", "tulip"),
    target: int = 0,
    grayscale: bool = False,
    scorecard: dict | None = None,
    method: str = "occlusion",
    extras: dict | None = None,
) -> dict:
    """A receipt dict as receipt.build writes it, with a prediction of the given probabilities."""
    logits = np.log(np.asarray(probabilities, dtype=np.float64))
    prediction = decide(TaskInfo("multiclass", names), logits).to_dict()
    return {
        "receipt_version": 1,
        "model": {
            "id": model_id,
            "revision": "a" * 40,
            "weights_sha256": "b" * 64,
            "architecture": "resnet18",
            "source": "hub",
            "task": "multiclass",
            "units": None,
        },
        "image": {
            "sha256": "c" * 64,
            "width": 640,
            "height": 480,
            "grayscale": grayscale,
            "crop_box": [80.0, 0.0, 560.0, 480.0],
        },
        "method": method,
        "options": {"window": 16, "stride": 8},
        "target": {"name": names[target], "index": target, "kind": "multiclass", "direction": "raises"},
        "score": float(logits[target]),
        "prediction": prediction,
        "evidence": evidence(_blob(1, 0) if heatmap is None else heatmap),
        "heatmap_sha256": "d" * 64,
        "scorecard": scorecard,
        "timings": {},
        "notes": [],
        "extras": extras or {},
        "versions": {},
        "device": "cpu",
        "created": "2026-01-01T00:00:00+00:00",
    }


CARD = {
    "method": "occlusion",
    "badge": "pass",
    "reason": "deletion drops the score 3.1x faster than random order: the map points at evidence the model uses",
    "curves": {"deletion_auc": 0.1, "random_deletion_auc": 0.5, "insertion_auc": 0.8, "random_insertion_auc": 0.4},
    "randomisation": None,
    "agreement": {},
    "baselines": "blur",
    "seconds": 1.0,
    "notes": [],
}


@pytest.mark.parametrize(
    ("top", "band", "advice"),
    [
        (0.95, "confident", "a confident model can still be wrong"),
        (0.75, "fairly confident", "check the runner-up, **tulip** (15%), before relying on it."),
        (0.45, "uncertain", "treat this answer with caution. Next: tulip (33%), daisy (22%)."),
    ],
)
def test_each_confidence_band_has_its_words_and_advice(top, band, advice):
    rest = 1 - top
    text = report(_receipt(probabilities=(top, 0.6 * rest, 0.4 * rest), names=("rose", "tulip", "daisy")))
    assert f"**rose** ({100 * top:.0f}%): {band}; " in text
    assert advice in text


@pytest.mark.parametrize(
    ("probability", "band"),
    [(0.9001, "confident"), (0.9, "fairly confident"), (0.6, "fairly confident"), (0.5999, "uncertain")],
)
def test_band_edges(probability, band):
    assert confidence_band(probability)[0] == band


def test_a_map_of_another_class_than_the_top_one_says_so():
    text = report(_receipt(probabilities=(0.7, 0.3), target=1))
    assert "The map explains **tulip** (30%), not the top answer." in text


def test_regression_reports_the_value_with_units_and_no_probability():
    loaded = planted_regressor()
    image = np.full((64, 64, 3), 120, dtype=np.uint8)
    prepared = prepare_image(loaded, image)
    expl = gradcam.explain(loaded, prepared.image)
    from explainers import predict

    made = receipt.build(loaded, prepared, expl, prediction=predict(loaded, prepared)).to_dict()
    text = report(made)
    value = predict(loaded, prepared).scores[0]
    assert f"The model estimates **left** at **{value:.3g} g**" in text
    assert "gives no probability" in text
    assert "%)" not in text.split("### Where")[0]


@pytest.mark.parametrize(("row", "col"), [(r, c) for r in range(3) for c in range(3)])
def test_the_region_phrase_names_where_the_map_peaks(row, col):
    text = report(_receipt(heatmap=_blob(row, col)))
    name = REGIONS[row][col]
    assert re.search(rf"Most of the supporting evidence \(9\d%\) is in the \*\*{name}\*\*;", text)
    assert "strongest spot" not in text  # the peak is in the same region


def test_the_area_holding_half_the_evidence_is_measured():
    heatmap = np.zeros((SIZE, SIZE), np.float32)
    heatmap[30:60, 0:30] = 1.0  # exactly the centre-left ninth, uniform
    ev = evidence(heatmap)
    assert ev["main"] == "centre-left" and ev["main_share"] == 1.0
    assert ev["area_half"] == pytest.approx(1 / 18, abs=1 / SIZE**2)
    text = report(_receipt(heatmap=heatmap))
    assert "Most of the supporting evidence (100%) is in the **centre-left**; half of it lies in about 6% of" in text


def test_evidence_spread_over_the_picture_is_called_spread_out():
    text = report(_receipt(heatmap=np.ones((SIZE, SIZE), np.float32)))
    assert "The supporting evidence is spread out: no ninth of the picture holds more than 11% of it" in text
    assert "about 50% of the image" in text


def test_evidence_between_regions_is_placed_by_its_peak():
    text = report(_receipt(heatmap=_blob(0.5, 0.5, radius=10.0)))  # centred where four regions meet
    assert "The supporting evidence is concentrated around the **top-left** but crosses into neighbouring" in text
    assert "(none holds more than 25% of it)" in text


def test_a_share_below_half_is_the_largest_not_most():
    heatmap = _blob(0, 0) + 0.8 * _blob(2, 2) + 0.5 * _blob(0, 2)
    text = report(_receipt(heatmap=heatmap))
    assert "The largest share of the supporting evidence (43%) is in the **top-left**" in text


def test_a_map_without_positive_evidence_says_so():
    text = report(_receipt(heatmap=-_blob(1, 1)))
    assert "The map shows nothing that supports the target" in text


def test_a_map_mostly_against_the_target_warns():
    heatmap = _blob(0, 0) - 2 * _blob(2, 2)
    assert "counts against the target" in report(_receipt(heatmap=heatmap))


@pytest.mark.parametrize(
    ("rho", "phrase"),
    [
        (0.82, "Grad-CAM agrees with Occlusion"),
        (0.3, "Grad-CAM partly agrees with Occlusion"),
        (0.05, "Grad-CAM disagrees with Occlusion"),
    ],
)
def test_agreement_phrasing(rho, phrase):
    card = {**CARD, "agreement": {"gradcam": rho}}
    text = report(_receipt(scorecard=card))
    assert f"{phrase} on where the evidence is (rank correlation {rho:.2f})." in text
    assert ("When methods disagree" in text) == (rho < 0.2)


def test_agreement_is_read_from_the_other_receipts_and_their_badges_are_listed():
    mine = _receipt(scorecard=CARD)
    other = _receipt(method="gradcam", scorecard={**CARD, "badge": "warn", "agreement": {"occlusion": 0.6}})
    text = report(mine, others=[other])
    assert "Grad-CAM agrees with Occlusion" in text
    assert "Their own checks: Grad-CAM: warn." in text


def test_no_agreement_section_for_a_single_method():
    assert "Do the methods agree" not in report(_receipt(scorecard=CARD))


def test_the_verdict_and_its_numbers_are_reported():
    text = report(_receipt(scorecard=CARD))
    assert "**Pass**: deletion drops the score 3.1x faster than random order" in text
    assert "Deletion AUC 0.10 vs 0.50 for random order" in text
    assert "no scorecard" in report(_receipt())


def test_the_heatmap_caveat_is_always_there_and_grad_cams_coarse_grid_when_flagged():
    plain = report(_receipt())
    assert "not what causes the class in the world" in plain
    coarse = report(_receipt(method="gradcam", extras={"coarse": True, "grid": [3, 3]}))
    assert "Grad-CAM read a 3x3 grid here" in coarse
    assert "Grad-CAM read" not in report(_receipt(method="gradcam", extras={"coarse": False, "grid": [7, 7]}))


@pytest.mark.parametrize(
    ("model_id", "names", "grayscale"),
    [
        ("acme/chest-xray-classifier", ("normal", "abnormal"), False),
        ("acme/resnet-cxr", ("normal", "pneumonia"), False),
        ("derm/classifier", ("nevus", "melanoma"), False),
        ("acme/brain_MRI", ("a", "b"), False),
        ("acme/scans", ("no tumour", "tumor"), False),
        ("acme/ct-scan", ("a", "b"), False),
        ("acme/flowers", ("rose", "tulip"), True),
    ],
)
def test_medical_looking_inputs_or_models_get_the_clinical_note(model_id, names, grayscale):
    made = _receipt(model_id=model_id, names=names, grayscale=grayscale)
    assert is_medical(made)
    assert "**Not for clinical use.**" in report(made)


@pytest.mark.parametrize(
    ("model_id", "names"),
    [
        ("acme/flowers", ("rose", "tulip")),
        ("acme/insects", ("insect", "beetle")),
        ("acme/objects", ("projector", "act")),
    ],
)
def test_ordinary_colour_pictures_and_models_get_no_clinical_note(model_id, names):
    made = _receipt(model_id=model_id, names=names)
    assert not is_medical(made)
    assert "clinical" not in report(made)


def test_the_same_receipt_always_gives_the_same_text():
    made = _receipt(scorecard={**CARD, "agreement": {"gradcam": 0.4, "integrated_gradients": 0.1}})
    first = report(made)
    assert report(copy.deepcopy(made)) == first
    assert report(json.loads(json.dumps(made))) == first


def test_a_report_from_a_real_receipt():
    loaded = planted_classifier(3)
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    prepared = prepare_image(loaded, image)
    expl = gradcam.explain(loaded, prepared.image)
    from explainers import predict
    from explainers.trust import scorecard as quality

    card = quality.scorecard(loaded, prepared.image, expl)
    made = receipt.build(loaded, prepared, expl, card, prediction=predict(loaded, prepared)).to_dict()
    text = report(made)
    assert text.startswith("### Prediction\n")
    assert "bottom-right" in text  # the planted quadrant 3
    assert f"`{loaded.weights_sha256[:12]}`" in text


def test_multilabel_reports_the_labels_and_the_explained_labels_band():
    made = _receipt()
    task = TaskInfo("multilabel", ("rose", "tulip"), thresholds=(0.5, 0.5), abstain=0.25)
    made["prediction"] = decide(task, np.array([2.0, -3.0])).to_dict()  # rose 88%, tulip 5%
    text = report(made)
    assert (
        "The model's labels: **rose**. It reads **rose** as present (88%): fairly confident; check the runner-up"
        in text
    )
    made["target"] = {"name": "tulip", "index": 1, "kind": "multilabel", "direction": "raises"}
    assert "It reads **tulip** as absent (5%): confident;" in report(made)


def test_a_receipt_with_similar_cases_gains_their_sentence_and_the_gallery_in_the_footer():
    similar = {
        "gallery": {"sha256": "e" * 64, "count": 1500, "index": "exact inner product (float32)"},
        "task": "multiclass",
        "k": 8,
        "prediction": "rose",
        "neighbours": [{"id": "r1", "label": "rose", "similarity": 0.93}],
        "agreement": 0.75,
        "nearest_unlike": {"id": "t1", "label": "tulip", "similarity": 0.81},
        "votes": [{"label": "rose", "count": 6}, {"label": "tulip", "count": 2}],
    }
    text = report({**_receipt(), "similar": similar})
    assert (
        "### Similar cases\nOf the 8 reference images most similar to this one (among 1,500), 6 (75%) are labelled "
        "rose, like the prediction. The closest reference labelled otherwise is tulip (similarity 0.81, against 0.93 "
        "for the nearest)."
    ) in text
    assert "gallery sha256 `eeeeeeeeeeee`" in text


def test_a_receipt_without_similar_cases_has_no_such_section():
    text = report(_receipt())
    assert "Similar cases" not in text and "gallery sha256" not in text
