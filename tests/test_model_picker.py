"""The model picker: every well-known model it offers loads, predicts and explains through the real app, each one
served by the local Hub stand-in under its real repo id as a tiny model of the same timm architecture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import timm
import torch
from gradio_client import Client, handle_file
from helpers_app import CHELSEA, final
from hub_stub import HubStub
from servers import running_app
from timm.models import save_for_hf

from explainers.models.catalog import CATALOG, Entry
from ui import i18n

pytestmark = pytest.mark.slow

# model_args that keep each architecture (its timm name, blocks and head) but make it tiny.
TINY: dict[str, dict[str, Any]] = {
    "resnet50": {"layers": [1, 1, 1, 1], "channels": [8, 16, 32, 64], "stem_width": 8},
    "convnext_tiny": {"depths": [1, 1, 1, 1], "dims": [8, 16, 32, 64]},
    "efficientnet_b0": {},  # timm fixes its widths: served at full size (5.3M parameters)
    "vit_base_patch16_224": {"embed_dim": 16, "depth": 2, "num_heads": 2},  # Grad-CAM reads the last but one block
    "deit_small_patch16_224": {"embed_dim": 16, "depth": 2, "num_heads": 2},
    "swin_tiny_patch4_window7_224": {"embed_dim": 8, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 1, 1]},
    "eva02_tiny_patch14_336": {"embed_dim": 16, "depth": 1, "num_heads": 2},
}
LABELS = ["cat", "dog", "car"]


def test_every_entry_of_the_picker_has_a_tiny_stand_in() -> None:
    assert {entry.architecture for entry in CATALOG} == set(TINY)
    assert len({entry.family.split("-")[0] for entry in CATALOG}) == len(CATALOG)  # one per family


def _publish(stub: HubStub, entry: Entry, folder: Path) -> None:
    torch.manual_seed(0)
    model = timm.create_model(entry.architecture, num_classes=len(LABELS), **TINY[entry.architecture])
    save_for_hf(
        model,
        str(folder),
        model_config={"label_names": LABELS},
        model_args=TINY[entry.architecture],
        safe_serialization=True,
    )
    stub.add_repo(
        entry.repo_id, {p.name: p for p in folder.iterdir() if p.name in ("config.json", "model.safetensors")}
    )


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("picker")
    with HubStub() as stub:
        for entry in CATALOG:
            _publish(stub, entry, work / entry.architecture)
        env = stub.client_env(work / "hf_home") | {
            "XAI_CACHE_DIR": str(work / "xai"),
            "HF_HUB_OFFLINE": "0",
            "XAI_QUALITY_STEPS": "2",
            "XAI_MAX_CACHED_MODELS": "2",
        }
        with running_app(env=env, log_path=work / "app.log") as url:
            yield Client(url, verbose=False)


def test_the_page_offers_every_entry_in_the_picker(client: Client) -> None:
    config = client.config
    pickers = [
        c for c in config["components"] if i18n.english(c.get("props", {}).get("label")) == "Pick a well-known model"
    ]
    (picker,) = pickers
    offered = [choice[1] for choice in picker["props"]["choices"]]
    assert offered == ["default", *(entry.repo_id for entry in CATALOG)]


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.architecture)
def test_each_picked_model_loads_predicts_and_explains(client: Client, entry: Entry) -> None:
    info, _, _ = client.predict(entry.repo_id, "", api_name="/load_model")
    assert entry.repo_id in info and f"`{entry.architecture}`" in info
    *_, result = client.predict(handle_file(str(CHELSEA)), entry.repo_id, "", api_name="/predict")
    assert result["top"][0]["name"] in LABELS and result["model_id"] == entry.repo_id
    *_, receipt = final(
        client.submit(handle_file(str(CHELSEA)), entry.repo_id, "", "dog", "raises", "", api_name="/gradcam").result(
            timeout=180
        )
    )
    assert receipt["model"]["id"] == entry.repo_id and receipt["target"]["name"] == "dog"
    assert receipt["scorecard"]["badge"] in {"pass", "warn", "fail"}
