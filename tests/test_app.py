"""The app launched for real on 127.0.0.1 and called through gradio_client, plus its handlers called directly."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from helpers_app import final
from servers import ROOT, running_app

from explainers.models import predict as prediction_cache
from ui import counterfactual, gradcam, predict

COFFEE = str(ROOT / "examples" / "coffee.jpg")
CHELSEA = str(ROOT / "examples" / "chelsea.jpg")


@pytest.fixture(scope="module")
def client() -> Client:
    with running_app() as url:
        yield Client(url, verbose=False)


def test_predict_endpoint_returns_espresso_for_the_coffee_photo(client: Client) -> None:
    label, decision, result = client.predict(handle_file(COFFEE), "default", "", api_name="/predict")
    assert result["decision"] == "espresso"
    assert result["top"][0]["name"] == "espresso"
    assert result["top"][0]["probability"] > 0.5
    assert "espresso" in decision
    assert label["label"] == "espresso"


def test_predict_endpoint_says_what_is_wrong_with_a_text_file(client: Client, tmp_path: Path) -> None:
    fake = tmp_path / "notes.jpg"
    fake.write_text("this is not a picture")
    with pytest.raises(Exception) as info:
        client.predict(handle_file(str(fake)), "default", "", api_name="/predict")
    assert "image" in str(info.value).lower()
    assert "raised an exception" not in str(info.value)


def test_predict_endpoint_refuses_a_local_path_as_model(client: Client) -> None:
    with pytest.raises(Exception) as info:
        client.predict(handle_file(COFFEE), "/etc", "", api_name="/predict")
    assert "not a Hub repo id" in str(info.value)


def test_every_public_endpoint_has_a_stable_name(client: Client) -> None:
    info = client.view_api(print_info=False, return_format="dict")
    names = set(info["named_endpoints"])
    assert {
        "/predict",
        "/load_model",
        "/gradcam",
        "/occlusion",
        "/integrated_gradients",
        "/counterfactual",
        "/compare",
        "/replay",
        "/batch",
    } <= names


def test_handler_turns_explainer_errors_into_gradio_errors() -> None:
    with pytest.raises(gr.Error) as info:
        predict.on_predict(None, "default", "")
    assert "no image" in str(info.value)


def test_handler_predicts_a_cat_for_chelsea() -> None:
    _, _, result = predict.on_predict(CHELSEA, "default", "")
    top2 = [row["name"] for row in result["top"][:2]]
    assert any("cat" in name or name == "tabby" for name in top2), top2
    json.dumps(result)


def test_gradcam_endpoint_returns_overlay_map_receipt_and_badge(client: Client) -> None:
    overlay, badge, text, npy, receipt_file, receipt = client.predict(
        handle_file(COFFEE), "default", "", "top-1", "raises", "", api_name="/gradcam"
    )
    assert Path(overlay).suffix == ".png"
    heatmap = np.load(npy)
    assert heatmap.shape == (224, 224) and heatmap.dtype == np.float32
    assert receipt["target"]["name"] == "espresso"
    assert receipt["scorecard"]["badge"] in {"pass", "warn", "fail"}
    assert receipt["model"]["weights_sha256"] and receipt["image"]["sha256"]
    assert receipt["versions"]["torch"]
    assert receipt["scorecard"]["badge"].upper() in badge
    assert "espresso" in text
    assert json.loads(Path(receipt_file).read_text())["heatmap_sha256"] == receipt["heatmap_sha256"]


@pytest.mark.parametrize("variant", ["hirescam", "gradcam++", "layercam", "eigencam"])
def test_gradcam_endpoint_runs_each_cam_variant_and_records_it(client: Client, variant: str) -> None:
    *_, npy, _, receipt = client.predict(
        handle_file(COFFEE), "default", "", "top-1", "raises", "", variant, api_name="/gradcam"
    )
    assert receipt["options"]["variant"] == variant
    assert np.load(npy).shape == (224, 224)


def test_gradcam_endpoint_says_attention_needs_a_transformer(client: Client) -> None:
    with pytest.raises(Exception) as info:
        client.predict(handle_file(COFFEE), "default", "", "top-1", "raises", "", "attention", api_name="/gradcam")
    assert "needs a transformer with attention blocks" in str(info.value)


def test_gradcam_endpoint_explains_why_one_class_rather_than_another(client: Client) -> None:
    *_, text, _npy, _file, receipt = client.predict(
        handle_file(COFFEE), "default", "", "espresso vs cup", "raises", "", api_name="/gradcam"
    )
    assert receipt["target"]["name"] == "espresso" and receipt["target"]["contrast"] == "cup"
    assert "cup" in text


def test_replay_endpoint_reproduces_a_map_from_its_receipt(client: Client) -> None:
    _, _, _, npy, receipt_file, _ = client.predict(
        handle_file(CHELSEA), "default", "", "top-1", "lowers", "", api_name="/gradcam"
    )
    _, result = client.predict(handle_file(CHELSEA), handle_file(receipt_file), handle_file(npy), api_name="/replay")
    assert result["reproduced"] is True
    assert result["max_abs_difference"] < 1e-5


def test_replay_refuses_another_image(client: Client) -> None:
    _, _, _, _, receipt_file, _ = client.predict(
        handle_file(COFFEE), "default", "", "top-1", "raises", "", api_name="/gradcam"
    )
    with pytest.raises(Exception, match="exact file"):
        client.predict(handle_file(CHELSEA), handle_file(receipt_file), None, api_name="/replay")


def test_compare_endpoint_scores_every_method_for_one_target(client: Client) -> None:
    _picture, cards, text, _receipts_file, receipts = client.predict(
        handle_file(COFFEE), "default", "", "top-1", "raises", ["gradcam", "occlusion"], api_name="/compare"
    )
    assert [r["method"] for r in receipts] == ["gradcam", "occlusion"]
    assert {r["target"]["name"] for r in receipts} == {"espresso"}
    assert "occlusion" in receipts[0]["scorecard"]["agreement"]
    assert "Agreement" in cards and "Do the methods agree?" in text


def test_counterfactual_endpoint_flips_the_prediction_and_round_trips(client: Client) -> None:
    cf_png, change_npy, result, *_ = client.predict(
        handle_file(COFFEE),
        "default",
        "",
        "any other class",
        10.0,
        1.0,
        0.1,
        200,
        0,
        0,
        0.6,
        api_name="/counterfactual",
    )
    assert result["valid"] is True
    _, _, again = client.predict(handle_file(cf_png), "default", "", api_name="/predict")
    assert again["decision"] != "espresso"
    assert np.load(change_npy).shape == (224, 224, 3)
    # The headline says what it became, in the result and above the pictures; the slider pairs before and after.
    assert result["headline"].startswith("espresso ") and f"-> {again['decision']} " in result["headline"]
    assert result["metrics"]["first_valid"] and result["metrics"]["shrink"]["stopped"]


def test_counterfactual_tab_shows_the_headline_and_a_before_after_slider() -> None:
    *_, state = counterfactual.on_counterfactual(
        COFFEE, "default", "", "any other class", 10.0, 1.0, 0.1, 200, 0, 0, 0.6, progress=None
    )
    text, (before, after) = counterfactual.on_show(state)
    assert text.startswith("## espresso ") and "->" in text
    assert before.shape == after.shape == state["rgb"].shape
    assert counterfactual.on_show(None) == ("", None)


def test_prediction_is_computed_once_per_model_and_image() -> None:
    predict.on_predict(COFFEE, "default", "")
    before = prediction_cache.cache_stats()
    final(gradcam.on_gradcam(COFFEE, "default", "", "top-1", "raises", "", progress=None))
    final(gradcam.on_gradcam(COFFEE, "default", "", "cup", "raises", "", progress=None))
    after = prediction_cache.cache_stats()
    assert after["misses"] == before["misses"]
    assert after["hits"] == before["hits"] + 2
