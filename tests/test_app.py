"""The app launched for real on 127.0.0.1 and called through gradio_client, plus its handlers called directly."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from servers import ROOT, running_app

import app

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
    assert {"/predict", "/gradcam", "/occlusion", "/integrated_gradients", "/load_model"} <= names


def test_handler_turns_explainer_errors_into_gradio_errors() -> None:
    with pytest.raises(gr.Error) as info:
        app.on_predict(None, "default", "")
    assert "no image" in str(info.value)


def test_handler_predicts_a_cat_for_chelsea() -> None:
    _, _, result = app.on_predict(CHELSEA, "default", "")
    top2 = [row["name"] for row in result["top"][:2]]
    assert any("cat" in name or name == "tabby" for name in top2), top2
    json.dumps(result)
