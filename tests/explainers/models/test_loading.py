"""Model sources: built-in default, local folder and the Hub (through the local stand-in), and every refusal."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import timm
import torch
from hub_stub import HubStub
from PIL import Image
from servers import ROOT

from explainers.errors import ConfigError, ModelSourceError, UnsafeWeightsError
from explainers.models.loading import load_model
from explainers.models.predict import predict
from explainers.models.preprocess import prepare_pil
from explainers.models.sources import parse_source


def save_tiny(
    folder: Path, *, num_classes: int = 3, config_extra: dict | None = None, arch: str = "test_resnet", seed: int = 0
) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = timm.create_model(arch, num_classes=num_classes)
    timm.models.save_for_hf(model, str(folder), model_config=config_extra or {}, safe_serialization=True)
    return model.eval()


def repo_files(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in folder.iterdir() if p.is_file()}


# ----------------------------------------------------------------------------------------------- the default model


@pytest.fixture(scope="module")
def default_model():
    return load_model(None)


@pytest.mark.parametrize(
    ("photo", "expected"), [("coffee", {"espresso"}), ("chelsea", {"tabby", "tiger cat", "Egyptian cat"})]
)
def test_the_converted_default_model_recognises_real_photos(default_model, photo: str, expected: set[str]) -> None:
    pil = Image.open(ROOT / "examples" / f"{photo}.jpg").convert("RGB")
    pred = predict(default_model, prepare_pil(default_model, pil))
    top = [name for name, _ in pred.top[: 1 if photo == "coffee" else 2]]
    assert expected & set(top), pred.top


def test_the_default_model_uses_timms_preprocessing_and_readable_names(default_model) -> None:
    assert default_model.architecture == "tf_efficientnet_lite0"
    assert default_model.data_config["input_size"] == (3, 224, 224)
    assert default_model.data_config["interpolation"] == "bicubic"
    assert default_model.task.names[335] == "fox squirrel"
    assert len(default_model.weights_sha256) == 64


def test_the_default_model_is_frozen_and_in_eval_mode(default_model) -> None:
    assert not default_model.model.training
    assert not any(p.requires_grad for p in default_model.model.parameters())


def test_loading_twice_returns_the_same_object(default_model) -> None:
    assert load_model(None) is default_model


# ----------------------------------------------------------------------------------------------- source parsing


@pytest.mark.parametrize(
    ("spec", "revision", "expected"),
    [
        ("", None, ("default", "", None)),
        ("default", None, ("default", "", None)),
        ("timm/resnet18.a1_in1k", None, ("hub", "timm/resnet18.a1_in1k", None)),
        ("timm/resnet18.a1_in1k@v1.0", None, ("hub", "timm/resnet18.a1_in1k", "v1.0")),
        ("hf-hub:acme/net@main", "dev", ("hub", "acme/net", "dev")),
    ],
)
def test_sources_parse(spec: str, revision: str | None, expected: tuple) -> None:
    source = parse_source(spec, revision)
    assert (source.kind, source.ref, source.revision) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "../etc/passwd",
        "/etc",
        "acme/../../x",
        "acme/x/y",
        "acme",
        "acme/x y",
        "~/models",
        "acme/.hidden",
        "a--b/c",
        "C:\\models\\x",
    ],
)
def test_path_tricks_and_malformed_ids_are_refused_from_the_public_side(spec: str) -> None:
    with pytest.raises(ModelSourceError):
        parse_source(spec, allow_local=False)


def test_a_malformed_revision_is_refused() -> None:
    with pytest.raises(ModelSourceError, match="not a valid revision"):
        parse_source("acme/net", "../../x")


# ----------------------------------------------------------------------------------------------- local folders


def test_a_local_folder_in_timm_hub_layout_loads_and_matches_its_source(tmp_path: Path) -> None:
    source_model = save_tiny(tmp_path / "m", config_extra={"label_names": ["a", "b", "c"]})
    loaded = load_model(parse_source(str(tmp_path / "m"), allow_local=True))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), source_model(x), atol=1e-6)
    assert loaded.task.names == ("a", "b", "c")


def test_a_folder_with_only_pickle_weights_is_refused_with_the_fix(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    model = save_tiny(folder)
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(UnsafeWeightsError, match=r"pickle.*upload_model\.py"):
        load_model(parse_source(str(folder), allow_local=True))


def test_a_folder_without_config_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    save_tiny(folder)
    (folder / "config.json").unlink()
    with pytest.raises(ConfigError, match=r"no config\.json"):
        load_model(parse_source(str(folder), allow_local=True))


def test_weights_of_the_wrong_shape_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    save_tiny(folder, num_classes=3)
    config = json.loads((folder / "config.json").read_text())
    config["num_classes"] = 5
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="does not fit"):
        load_model(parse_source(str(folder), allow_local=True))


def test_an_unknown_architecture_is_refused_with_suggestions(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    save_tiny(folder)
    config = json.loads((folder / "config.json").read_text())
    config["architecture"] = "resnet_18"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"not a timm model.*did you mean"):
        load_model(parse_source(str(folder), allow_local=True))


def test_model_args_that_would_allocate_absurd_memory_are_refused_before_building(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    save_tiny(folder, arch="test_vit")
    config = json.loads((folder / "config.json").read_text())
    config["model_args"] = {"embed_dim": 16384, "depth": 64, "num_heads": 16}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"parameters, over this Space's limit"):
        load_model(parse_source(str(folder), allow_local=True))


def test_a_corrupt_safetensors_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    save_tiny(folder)
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ConfigError, match="not a readable safetensors"):
        load_model(parse_source(str(folder), allow_local=True))


def test_a_regression_folder_carries_names_units_and_z_score_stats(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    extra = {
        "task": "regression",
        "target_names": ["calories", "mass", "fat", "carb", "protein"],
        "units": ["kcal", "g", "g", "g", "g"],
        "target_mean": [250, 200, 12, 20, 15],
        "target_std": [150, 100, 8, 15, 10],
    }
    save_tiny(folder, num_classes=5, config_extra=extra)
    loaded = load_model(parse_source(str(folder), allow_local=True))
    assert loaded.task.kind == "regression"
    assert loaded.task.units == ("kcal", "g", "g", "g", "g")
    pred = predict(loaded, prepare_pil(loaded, Image.new("RGB", (80, 60), (120, 80, 40))))
    assert pred.decision.startswith("calories ") and "kcal" in pred.decision


# ----------------------------------------------------------------------------------------------- the Hub, for real

HUB_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from explainers import load_model, parse_source
    from explainers.errors import ExplainerError
    try:
        m = load_model(parse_source(sys.argv[1], sys.argv[2] or None))
        print(json.dumps({"ok": True, "revision": m.revision, "names": list(m.task.names),
                          "sha256": m.weights_sha256}))
    except ExplainerError as e:
        print(json.dumps({"ok": False, "type": type(e).__name__, "message": str(e)}))
    """
)


def load_via_hub(stub: HubStub, tmp_path: Path, spec: str, revision: str = "", *, offline: bool = False) -> dict:
    env = stub.client_env(tmp_path / "hf_home")
    env["XAI_CACHE_DIR"] = str(tmp_path / "xai")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", HUB_SCRIPT, spec, revision],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    folder_v1 = tmp_path_factory.mktemp("v1")
    folder_v2 = tmp_path_factory.mktemp("v2")
    save_tiny(folder_v1, config_extra={"label_names": ["a", "b", "c"]}, seed=1)
    save_tiny(folder_v2, config_extra={"label_names": ["x", "y", "z"]}, seed=2)
    pickle_only = tmp_path_factory.mktemp("pk")
    model = save_tiny(pickle_only)
    (pickle_only / "model.safetensors").unlink()
    torch.save(model.state_dict(), pickle_only / "pytorch_model.bin")
    with HubStub() as stub:
        sha1 = stub.add_repo("acme/tiny", repo_files(folder_v1))
        sha2 = stub.add_repo("acme/tiny", repo_files(folder_v2))
        stub.add_repo("acme/pickled", repo_files(pickle_only))
        stub.add_repo("acme/noconfig", {"model.safetensors": folder_v1 / "model.safetensors"})
        yield stub, sha1, sha2


@pytest.mark.slow
def test_a_hub_repo_loads_by_id_and_by_revision_sha(hub, tmp_path: Path) -> None:
    stub, sha1, sha2 = hub
    latest = load_via_hub(stub, tmp_path, "acme/tiny")
    assert latest == {**latest, "ok": True, "revision": sha2, "names": ["x", "y", "z"]}
    pinned = load_via_hub(stub, tmp_path, "acme/tiny", sha1)
    assert pinned["ok"] and pinned["revision"] == sha1 and pinned["names"] == ["a", "b", "c"]
    assert pinned["sha256"] != latest["sha256"]
    downloaded = {path.rsplit("/", 1)[-1] for method, path in stub.requests if method == "GET" and "/resolve/" in path}
    assert downloaded <= {"config.json", "model.safetensors"}


def test_a_pickle_only_hub_repo_is_refused_without_downloading_the_pickle(hub, tmp_path: Path) -> None:
    stub, _, _ = hub
    result = load_via_hub(stub, tmp_path, "acme/pickled")
    assert result["type"] == "UnsafeWeightsError"
    assert "pytorch_model.bin" in result["message"] and "upload_model.py" in result["message"]
    assert not any("pytorch_model.bin" in path and "/resolve/" in path for _, path in stub.requests)


@pytest.mark.parametrize(
    ("spec", "revision", "error", "words"),
    [
        ("acme/missing", "", "ModelSourceError", "was not found"),
        ("acme/tiny", "no-such-branch", "ModelSourceError", "revision 'no-such-branch' was not found"),
        ("acme/noconfig", "", "ConfigError", "has no config.json"),
    ],
)
def test_broken_hub_sources_get_clear_messages(
    hub, tmp_path: Path, spec: str, revision: str, error: str, words: str
) -> None:
    stub, _, _ = hub
    result = load_via_hub(stub, tmp_path, spec, revision)
    assert result["ok"] is False and result["type"] == error
    assert words in result["message"]


def test_an_uncached_repo_offline_fails_fast_with_a_clear_message(hub, tmp_path: Path) -> None:
    stub, _, _ = hub
    result = load_via_hub(stub, tmp_path, "acme/tiny", offline=True)
    assert result["type"] == "HubUnavailableError"
    assert "not in the local cache" in result["message"]


def test_an_unreachable_hub_fails_in_seconds_not_retries(tmp_path: Path) -> None:
    import time

    from servers import free_port

    stub_env = {
        "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "HF_HOME": str(tmp_path / "h"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "OMP_NUM_THREADS": "1",
        "XAI_CACHE_DIR": str(tmp_path / "x"),
    }
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")} | stub_env
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", HUB_SCRIPT, "acme/tiny", ""],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - start
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["type"] == "HubUnavailableError", result
    assert elapsed < 30


def test_the_cache_key_separates_sources() -> None:
    assert parse_source("acme/x", "a") != parse_source("acme/x", "b")
