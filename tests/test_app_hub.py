"""The whole publishing path: upload_model.py builds a nutrition regressor repo, the Hub stand-in serves it, and the
real app predicts and explains with it by id and by commit sha through gradio_client."""

from __future__ import annotations

import pytest
import safetensors.torch
import timm
import torch
from gradio_client import Client, handle_file
from hub_stub import HubStub
from servers import ROOT, running_app

from explainers.types import TaskInfo
from publishing import ModelDescription, build_folder

pytestmark = pytest.mark.slow
NUTRITION = ("calories", "mass", "fat", "carb", "protein")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("publish")
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", num_classes=len(NUTRITION))
    safetensors.torch.save_file(model.state_dict(), str(work / "ckpt.safetensors"))
    description = ModelDescription(
        task=TaskInfo(
            "regression",
            NUTRITION,
            units=("kcal", "g", "g", "g", "g"),
            target_mean=(250.0, 200.0, 12.0, 20.0, 15.0),
            target_std=(150.0, 100.0, 8.0, 15.0, 10.0),
        ),
        license="apache-2.0",
    )
    folder = build_folder(
        work / "repo",
        arch="test_resnet",
        weights=work / "ckpt.safetensors",
        description=description,
        repo_id="acme/nutrition",
    )
    with HubStub() as stub:
        sha = stub.add_repo("acme/nutrition", {p.name: p for p in folder.iterdir() if p.is_file()})
        env = stub.client_env(work / "hf_home") | {"XAI_CACHE_DIR": str(work / "xai"), "HF_HUB_OFFLINE": "0"}
        with running_app(env=env) as url:
            yield Client(url, verbose=False), sha


def test_the_app_predicts_with_a_published_regressor_by_id_and_sha(served) -> None:
    client, sha = served
    for revision in ("", sha):
        _, decision, result = client.predict(
            handle_file(str(ROOT / "examples" / "coffee.jpg")), "acme/nutrition", revision, api_name="/predict"
        )
        assert [v["name"] for v in result["values"]] == list(NUTRITION)
        assert result["values"][0]["unit"] == "kcal"
        assert "calories" in decision


def test_the_app_explains_each_output_of_the_published_regressor(served) -> None:
    client, sha = served
    *_, receipt = client.predict(
        handle_file(str(ROOT / "examples" / "chelsea.jpg")),
        "acme/nutrition",
        sha,
        "protein",
        "lowers",
        "",
        api_name="/gradcam",
    )
    assert receipt["model"]["id"] == "acme/nutrition" and receipt["model"]["revision"] == sha
    assert receipt["target"] == {**receipt["target"], "name": "protein", "direction": "lowers"}


def test_a_counterfactual_moves_a_regression_output_to_the_asked_value(served) -> None:
    client, sha = served
    _, _, before = client.predict(
        handle_file(str(ROOT / "examples" / "coffee.jpg")), "acme/nutrition", sha, api_name="/predict"
    )
    calories = before["values"][0]["value"]
    goal = f"calories = {calories + 5:.1f} ± 2 kcal"
    _, _, result, *_ = client.predict(
        handle_file(str(ROOT / "examples" / "coffee.jpg")),
        "acme/nutrition",
        sha,
        goal,
        1.0,
        0.0,
        0.0,
        300,
        0,
        0,
        0.6,
        api_name="/counterfactual",
    )
    after = result["metrics"]["after"]["values"][0]["value"]
    assert result["valid"] is True, result["message"]
    assert abs(after - (calories + 5)) <= 2
