"""One fine-tune end to end: load, read the corrections and the original sample, evaluate, train, evaluate again,
write the proved repo folder and report.json, push it as a revision, and record it in the app's store.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from explainers.corrections import CorrectionStore
from explainers.corrections.store import DB_NAME
from explainers.errors import CorrectionError
from explainers.models.loading import load_model
from explainers.models.sources import parse_source
from explainers.types import LoadedModel
from publishing import UploadResult, check_branch, check_repo_id, require_token

from .data import Examples, load_corrections, load_original
from .evaluate import evaluate, figures
from .publish import license_of, push, source_config, write_folder
from .train import Plan, Scale, finetune

Report = Callable[[float, str], None]
HELD = "held-aside original"
CORRECTIONS = "corrections"
# Share of the progress bar per phase; training dominates.
PHASES = {"load": 0.03, "data": 0.12, "before": 0.04, "train": 0.7, "after": 0.04, "write": 0.07}


@dataclass(frozen=True)
class RunResult:
    """Where a fine-tune went and what it measured."""

    folder: Path
    figures: dict[str, Any]
    uploaded: UploadResult | None
    finetune_id: str | None


class _Phases:
    """Maps each phase's own 0..1 progress onto its share of one bar."""

    def __init__(self, report: Report | None) -> None:
        self.report, self.start = report, 0.0

    def __call__(self, name: str) -> Report:
        start, share = self.start, PHASES[name]
        self.start += share

        def report(fraction: float, message: str) -> None:
            if self.report is not None:
                self.report(start + share * fraction, f"{name}: {message}")

        return report


def train_run(
    source: str,
    corrections: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    original: str | os.PathLike[str] | None = None,
    sample: int = 1000,
    holdout: float = 0.2,
    plan: Plan | None = None,
    license: str | None = None,
    push_to: str | None = None,
    revision: str | None = None,
    endpoint: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    report: Report | None = None,
) -> RunResult:
    """Fine-tune ``source`` on an export of corrections and write (and optionally push) the result.

    Args:
        source: the model the corrections were made for: a local folder or owner/name[@revision].
        corrections: a folder written by `finetune.py export`.
        out: a missing or empty folder: gets model/ (the repo folder) and report.json.
        original: the original data (class sub-folders, or images + labels/metadata file), sampled against forgetting.
        sample: images drawn from ``original``, of which ``holdout`` (a fraction) is held aside for the figures.
        plan: the schedule (Plan() by default: the head only).
        license: the weights' licence, when the source's config.json names none.
        push_to: owner/name to commit the folder to, on branch ``revision``.
        endpoint: the Hub URL (HF_ENDPOINT by default).
        data_dir: the app's data folder: the fine-tune and the corrections it used are recorded in its store.
        report: progress as (fraction of the whole run, message).

    Raises:
        ExplainerError: a bad source, export, original data or setting (publishing's UploadError included).
    """
    clock = time.perf_counter()
    plan = (plan or Plan()).validate()
    out = Path(out).expanduser()
    if out.exists() and any(out.iterdir()):
        raise CorrectionError(f"{out} is not empty; give a missing or empty folder for the fine-tuned model")
    if push_to is not None:  # before any work: a missing token or a bad branch fails in a second, not in minutes
        check_repo_id(push_to)
        check_branch(revision or "main")
        require_token()
    phase = _Phases(report)
    loaded = load_model(parse_source(source, allow_local=True), device=torch.device("cpu"), cache=False)
    license = license_of(source_config(loaded), license)
    phase("load")(1.0, loaded.model_id)
    data = phase("data")
    fixes = load_corrections(loaded, corrections, lambda f, m: data(0.2 * f, f"corrections, {m}"))
    train, held = _original(loaded, original, sample, holdout, plan.seed, lambda f, m: data(0.2 + 0.8 * f, m))
    sets = {HELD: held, CORRECTIONS: fixes.examples}
    scale = Scale.of(loaded.task, torch.cat([train.targets, fixes.examples.targets]))
    before = evaluate(loaded.model, loaded.task, sets, scale, phase("before"))
    net = finetune(loaded, train, fixes.examples, plan, phase("train"))
    after = evaluate(net, loaded.task, sets, scale, phase("after"))
    write = phase("write")
    summary: dict[str, Any] = {
        "base": {"model_id": loaded.model_id, "revision": loaded.revision, "weights_sha256": loaded.weights_sha256},
        "corrections": len(fixes.examples),
        "skipped": fixes.skipped,
        "other_weights": fixes.other_weights,
        "original": {"folder": str(original) if original else None, "train": len(train), "held": len(held)},
        "plan": plan.to_dict(),
        "evaluation": figures(loaded.task, sets, before, after),
        "seconds": time.perf_counter() - clock,
        "threads": torch.get_num_threads(),
    }
    folder, verification = write_folder(out / "model", loaded, net, summary, license=license)
    write(0.6, f"verified (max |difference| {verification.max_abs_diff:.1g})")
    uploaded = push(folder, push_to, revision or "main", endpoint=endpoint) if push_to else None
    summary["published"] = (
        {"repo_id": uploaded.repo_id, "revision": uploaded.revision, "commit": uploaded.commit_sha}
        if uploaded
        else None
    )
    (out / "report.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    finetune_id = _record(data_dir, loaded, uploaded, summary, list(fixes.examples.ids))
    write(1.0, "done")
    return RunResult(folder, summary, uploaded, finetune_id)


def _original(
    model: LoadedModel, folder: Any, sample: int, holdout: float, seed: int, report: Report
) -> tuple[Examples, Examples]:
    if folder is None:
        empty = Examples(torch.zeros(0, 3, *model.input_size), _no_targets(model), ())
        return empty, empty
    if not 0.0 <= holdout < 1.0:
        raise CorrectionError(f"holdout must be a fraction in [0, 1), got {holdout!r}")
    return load_original(model, folder, sample=sample, seed=seed, report=report).split(holdout, seed)


def _no_targets(model: LoadedModel) -> torch.Tensor:
    if model.task.kind == "multiclass":
        return torch.zeros(0, dtype=torch.int64)
    return torch.zeros(0, model.task.num_outputs)


def _record(
    data_dir: Any, model: LoadedModel, uploaded: UploadResult | None, summary: dict[str, Any], used: list[str]
) -> str | None:
    """Tell the app's store (when there is one in data_dir) which corrections this fine-tune used, and its figures."""
    if data_dir is None or not (Path(data_dir) / DB_NAME).is_file():
        return None
    model_id = uploaded.repo_id if uploaded else model.model_id
    return CorrectionStore(data_dir).record_finetune(model_id, uploaded.commit_sha if uploaded else None, summary, used)
