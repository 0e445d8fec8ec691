"""The fine-tuned weights as a repo folder (through publishing: config.json + model.safetensors + the card, with
the before/after figures), proved by the Space's own loader, and pushed as a new revision of a Hub repo.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import safetensors.torch
from huggingface_hub import hf_hub_download
from torch import nn

from explainers.models.default import ensure_default_model
from explainers.models.sources import CONFIG_NAME
from explainers.types import LoadedModel
from publishing import (
    DATA_CONFIG_KEYS,
    ModelDescription,
    UploadError,
    UploadResult,
    Verification,
    build_folder,
    check_branch,
    check_repo_id,
    require_token,
    upload,
    verify_folder,
)
from publishing.folder import README_NAME

CARD_HEADING = "## Fine-tuned on visitors' corrections"


def source_config(model: LoadedModel) -> dict[str, Any]:
    """The config.json the model was loaded from (local folder, the built-in default, or the Hub commit)."""
    if model.source.kind == "local":
        path = Path(model.source.ref) / CONFIG_NAME
    elif model.source.kind == "default":
        path = ensure_default_model() / CONFIG_NAME
    else:
        path = Path(hf_hub_download(model.source.ref, CONFIG_NAME, revision=model.revision))
    return dict(json.loads(path.read_text(encoding="utf-8")))


def license_of(config: Mapping[str, Any], given: str | None) -> str:
    """The weights' licence: as given, else the source's pretrained_cfg.license.

    Raises:
        UploadError: neither says one.
    """
    found = given or (config.get("pretrained_cfg") or {}).get("license")
    if not found:
        raise UploadError("the source model's config.json names no licence; give one with --license (e.g. apache-2.0)")
    return str(found)


def card_section(figures: Mapping[str, Any]) -> str:
    """The card's account of the fine-tune: what it started from, what it learnt from, and before/after figures."""
    base, plan, original = figures["base"], figures["plan"], figures["original"]
    rev = f"@{base['revision'][:12]}" if base.get("revision") else ""
    head = f"the head for {plan['head_epochs']} epochs at learning rate {plan['head_lr']:g}"
    stage = f"the last stage with the head for {plan['stage_epochs']} epochs at {plan['stage_lr']:g}"
    schedule = " then ".join(
        [text for text, epochs in ((head, plan["head_epochs"]), (stage, plan["stage_epochs"])) if epochs]
    )
    data = (
        f"a sample of {original['train']} images of its original data; {original['held']} more were held aside to "
        "measure forgetting"
        if original["train"] or original["held"]
        else "no original data (forgetting was not measured)"
    )
    rows = "\n".join(
        f"| {name} | {row['n']} | {row['metric']} | {_fmt(row['before'])} | {_fmt(row['after'])} |"
        for name, row in figures["evaluation"].items()
    )
    return (
        f"\n\n{CARD_HEADING}\n\n"
        f"`{base['model_id']}{rev}` (weights sha256 `{base['weights_sha256'][:16]}`) fine-tuned by `finetune.py train` "
        f"on {figures['corrections']} corrections from the Space's visitors (each weighted "
        f"{plan['correction_weight']:g}x) and {data}. Schedule: {schedule}, learning rates decayed along a half "
        f"cosine; batch-norm statistics and dropout frozen; seed {plan['seed']}; "
        f"{figures['seconds']:.0f} s on {figures['threads']} CPU thread(s).\n\n"
        "| set | images | metric | before | after |\n| --- | ---: | --- | ---: | ---: |\n"
        f"{rows}\n"
    )


def write_folder(
    out: str | Path, model: LoadedModel, net: nn.Module, figures: Mapping[str, Any], *, license: str
) -> tuple[Path, Verification]:
    """Build and prove the repo folder of the fine-tuned network in ``out`` (missing or empty).

    Raises:
        UploadError, VerificationError: publishing's refusals (a bad licence, a folder that does not reproduce).
    """
    config = source_config(model)
    model_args = dict(config.get("model_args") or {})
    data_config = {k: v for k, v in model.data_config.items() if k in DATA_CONFIG_KEYS}
    hub_base = model.source.ref if model.source.kind == "hub" else None
    description = ModelDescription(
        task=model.task,
        license=license,
        base_model=hub_base,
        title=f"{model.model_id}, fine-tuned on visitors' corrections",
        intended_use=f"As for {model.model_id}, with the mistakes visitors of the explainer Space corrected taken "
        "into account; see the before/after figures below.",
    )
    with tempfile.TemporaryDirectory(prefix="finetune-") as tmp:
        weights = Path(tmp) / "finetuned.safetensors"
        safetensors.torch.save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
        checkpoint: dict[str, Any] = {"arch": model.architecture, "weights": weights, "model_args": model_args}
        folder = build_folder(out, description=description, data_config=data_config, repo_id=hub_base, **checkpoint)
        readme = folder / README_NAME
        readme.write_text(readme.read_text(encoding="utf-8") + card_section(figures), encoding="utf-8")
        verification = verify_folder(folder, **checkpoint)
    return folder, verification


def push(folder: Path, repo: str, revision: str, *, endpoint: str | None = None) -> UploadResult:
    """Commit the folder to branch ``revision`` of ``repo`` (created if missing): a new revision the app loads by id.

    Raises:
        UploadError: a bad repo id or branch, or no token.
    """
    repo_id = check_repo_id(repo)
    check_branch(revision)
    require_token()
    return upload(folder, repo_id, revision=revision, endpoint=endpoint, commit_message="Fine-tune on corrections")


def _fmt(value: float) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"
