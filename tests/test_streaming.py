"""Streaming, MCP and batches through the real app: gradio_client sees each map before its scorecard, an MCP client
lists the tools and calls them, and many photos come back as one zip and one CSV, bounded and cancellable."""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import Status
from helpers_app import CHELSEA, COFFEE, EXPLANATION_OUTPUTS, ROCKET, assert_our_message, endpoint_args, zip_of
from helpers_mcp import call_tool, data_url, list_tools, text
from PIL import Image
from servers import cpu_percent, running_app, server_process

pytestmark = pytest.mark.slow

MAX_IMAGES = 3  # the batch bounds of this server: small, so the tests can cross them cheaply
MAX_MB = 1
TIMEOUT = 120


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    log = tmp_path_factory.mktemp("streaming") / "app.log"
    env = {"XAI_BATCH_MAX_IMAGES": str(MAX_IMAGES), "XAI_BATCH_MAX_MB": str(MAX_MB), "XAI_QUALITY_STEPS": "4"}
    with running_app(env=env, log_path=log) as url:
        yield url


@pytest.fixture(scope="module")
def client(server: str) -> Client:
    return Client(server, verbose=False)


def _stream(client: Client, endpoint: str, args: list[Any]) -> list[Any]:
    job = client.submit(*args, api_name=f"/{endpoint}")
    job.result(timeout=TIMEOUT)
    return list(job.outputs())


# ------------------------------------------------------------------------------------------------------ streaming


@pytest.mark.parametrize("endpoint", ["gradcam", "occlusion", "integrated_gradients"])
def test_each_explanation_streams_its_map_before_its_scorecard(client: Client, endpoint: str) -> None:
    first, last = (
        dict(zip(EXPLANATION_OUTPUTS, o, strict=True))
        for o in _stream(client, endpoint, endpoint_args(endpoint, COFFEE))
    )
    assert Path(first["overlay"]).suffix == ".png" and np.load(first["npy"]).shape == (224, 224)
    assert "Scoring" in first["badge"] and first["receipt"] is None and first["receipt_file"] is None
    assert last["receipt"]["scorecard"]["badge"].upper() in last["badge"] and "espresso" in last["report"]
    np.testing.assert_array_equal(np.load(first["npy"]), np.load(last["npy"]))  # the map shown first is the one scored


def test_the_final_streamed_outputs_are_what_predict_returns(client: Client) -> None:
    args = endpoint_args("gradcam", CHELSEA)
    streamed = _stream(client, "gradcam", args)[-1]
    returned = client.predict(*args, api_name="/gradcam")
    assert len(streamed) == len(returned) == len(EXPLANATION_OUTPUTS)
    assert streamed[1] == returned[1]
    np.testing.assert_array_equal(np.load(streamed[3]), np.load(returned[3]))


def test_compare_adds_each_methods_panel_as_its_map_is_done(client: Client) -> None:
    outputs = _stream(client, "compare", endpoint_args("compare", COFFEE, methods=["gradcam", "occlusion"]))
    assert len(outputs) == 3  # Grad-CAM's panel, then occlusion's beside it, then the scorecards
    widths = [Image.open(o[0]).width for o in outputs]
    assert widths[0] < widths[1] == widths[2]
    assert "Grad-CAM**: ⏳ scoring" in outputs[0][1] and "Occlusion**: ⏳ computing" in outputs[0][1]
    assert outputs[0][4] is None and [r["method"] for r in outputs[-1][4]] == ["gradcam", "occlusion"]


# ------------------------------------------------------------------------------------------------------------ MCP


def test_every_public_endpoint_is_an_mcp_tool_described_by_its_docstring(server: str, client: Client) -> None:
    tools = {tool.name: tool for tool in list_tools(server)}
    public = {name.lstrip("/") for name in client.view_api(print_info=False, return_format="dict")["named_endpoints"]}
    assert set(tools) == public >= {"predict", "gradcam", "compare", "batch"}
    for tool in tools.values():
        assert "Returns:" in tool.description, tool.name
        properties = tool.inputSchema["properties"]
        undescribed = [name for name, spec in properties.items() if not spec.get("description")]
        assert properties and not undescribed, (tool.name, undescribed)
    assert "enum" not in tools["gradcam"].inputSchema["properties"]["target"]  # any class name, not just top-1


def test_an_mcp_client_predicts_and_explains_an_uploaded_photo(server: str) -> None:
    photo = data_url(COFFEE)
    predicted = call_tool(server, "predict", {"image": photo, "model_id": "default", "revision": ""})
    assert not predicted.isError and "espresso" in text(predicted)
    arguments = {"image": photo, "model_id": "default", "revision": "", "target": "cup", "direction": "raises"}
    explained = call_tool(server, "gradcam", {**arguments, "layer": ""})
    assert not explained.isError, text(explained)
    assert "heatmap_sha256" in text(explained) and "'name': 'cup'" in text(explained)


def test_an_image_url_is_fetched_by_gradio_which_refuses_private_addresses(server: str) -> None:
    """Public http(s) URLs are downloaded by Gradio; its SSRF guard refuses loopback ones, so offline tests can only
    see the refusal (the download path itself is Gradio's)."""
    result = call_tool(server, "predict", {"image": f"{server}favicon.ico", "model_id": "default", "revision": ""})
    assert result.isError and "failed validation" in text(result)


# ---------------------------------------------------------------------------------------------------------- batch


def test_a_batch_of_photos_and_a_zip_gives_one_zip_of_maps_and_a_csv(client: Client, tmp_path: Path) -> None:
    photos = zip_of(tmp_path / "photos.zip", {"cats/chelsea.jpg": CHELSEA.read_bytes(), "notes.txt": b"not a photo"})
    args = [[handle_file(str(COFFEE)), handle_file(str(photos))], "default", "", "top-1", "raises", ["gradcam"]]
    outputs = _stream(client, "batch", args)
    assert [len(o[2]["data"]) for o in outputs[:-1]] == [1, 2, 3]  # the table fills photo by photo
    archive_path, csv_path, table = outputs[-1]
    rows = list(csv.DictReader(io.StringIO(Path(csv_path).read_text())))
    assert [(r["image"], r["decision"], r["method"]) for r in rows] == [
        ("coffee.jpg", "espresso", "gradcam"),
        ("chelsea.jpg", rows[1]["decision"], "gradcam"),
        ("notes.txt", "", ""),
    ]
    assert rows[0]["badge"] in {"pass", "warn", "fail"} and float(rows[0]["gain"]) == pytest.approx(
        float(rows[0]["gain"])
    )
    assert "not an image" in rows[2]["error"]
    with zipfile.ZipFile(archive_path) as archive:
        names = set(archive.namelist())
        assert {"maps/coffee.jpg.gradcam.npy", "maps/coffee.jpg.gradcam.png", "predictions.csv"} <= names
        heatmap = np.load(io.BytesIO(archive.read("maps/coffee.jpg.gradcam.npy")))
        assert heatmap.shape == (224, 224) and heatmap.dtype == np.float32
        assert Image.open(io.BytesIO(archive.read("maps/chelsea.jpg.gradcam.png"))).format == "PNG"
        receipt = json.loads(archive.read("receipts/coffee.jpg.gradcam.json"))
        assert archive.read("predictions.csv").decode() == Path(csv_path).read_text()
    assert receipt["scorecard"]["badge"] == rows[0]["badge"] and table["data"][0][:2] == ["coffee.jpg", "espresso"]


def test_a_batch_with_too_many_photos_is_refused_with_a_clear_message(client: Client) -> None:
    files = [handle_file(str(p)) for p in (COFFEE, CHELSEA, ROCKET, COFFEE)]
    with pytest.raises(Exception) as info:
        client.predict(files, "default", "", "top-1", "raises", ["gradcam"], api_name="/batch")
    assert_our_message(info.value, "too many photos", f"at most {MAX_IMAGES}", "split")


def test_a_batch_too_large_in_bytes_is_refused_before_it_is_inflated(client: Client, tmp_path: Path) -> None:
    bomb = zip_of(tmp_path / "big.zip", {"big.png": bytes(2 * MAX_MB << 20)})  # 2 MB of zeros, a few KB zipped
    with pytest.raises(Exception) as info:
        client.predict([handle_file(str(bomb))], "default", "", "top-1", "raises", ["gradcam"], api_name="/batch")
    assert_our_message(info.value, "add up to more than", f"at most {MAX_MB} MB")


def test_a_cancelled_batch_stops_computing(server: str) -> None:
    client = Client(server, verbose=False)
    files = [handle_file(str(p)) for p in (COFFEE, CHELSEA, ROCKET)]
    # Integrated gradients at its tab's 64 steps on three photos: many seconds of work on one CPU thread.
    job = client.submit(files, "default", "", "top-1", "raises", ["integrated_gradients"], api_name="/batch")
    deadline = time.monotonic() + 60
    while job.status().code != Status.PROGRESS:
        assert time.monotonic() < deadline, "the batch never started"
        time.sleep(0.2)
    proc = server_process(server)
    busy = cpu_percent(proc)
    job.cancel()
    time.sleep(1.5)  # it stops at its next progress step (one integration step)
    idle = cpu_percent(proc, 3.0)
    # Relative bounds: on the shared 2-core machine a busy server may get only a third of a core.
    assert busy > 25, f"the batch was not computing ({busy:.0f}% CPU)"
    assert idle < min(30, busy / 3), f"the cancelled batch kept computing ({idle:.0f}% CPU, {busy:.0f}% before)"
