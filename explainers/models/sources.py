"""Model sources: what a user typed (Hub id@revision, local folder, "default") -> ModelSource."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ModelSourceError
from ..types import ModelSource

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
# Hub ids: https://huggingface.co/docs/hub/repositories -> owner/name, letters, digits, '-', '_', '.'; max 96 each.
_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


def parse_source(spec: str | None, revision: str | None = None, *, allow_local: bool = False) -> ModelSource:
    """Turn what a user typed into a ModelSource.

    Args:
        spec: "" / None / "default" for the built-in model, "owner/name" or "owner/name@rev" for the Hub, or
            "local:PATH" / an existing folder (only with allow_local).
        revision: a branch, tag or commit sha; overrides one given after '@'.
        allow_local: local folders are for the command line and the env var, never for the public UI.

    Raises:
        ModelSourceError: the id is malformed, tries path tricks, or names a local path where that is not allowed.
    """
    spec = (spec or "").strip()
    revision = (revision or "").strip() or None
    if spec in ("", "default"):
        return ModelSource("default")
    looks_local = spec.startswith(("local:", "local-dir:", "/", ".", "~", "\\")) or "\\" in spec or ".." in spec
    if looks_local:
        if not allow_local:
            raise ModelSourceError(
                f"{spec!r} is not a Hub repo id: expected owner/name (optionally @revision). Local folders can only "
                "be opened by whoever starts the app (python app.py --model PATH)."
            )
        path = Path(spec.split(":", 1)[1] if spec.startswith(("local:", "local-dir:")) else spec).expanduser()
        if not path.is_dir():
            raise ModelSourceError(
                f"local model folder {path} does not exist; expected a folder with {CONFIG_NAME} and {WEIGHTS_NAME}"
            )
        return ModelSource("local", str(path.resolve()))
    if "@" in spec:
        spec, _, rev = spec.partition("@")
        revision = revision or rev.strip() or None
    if spec.startswith("hf-hub:"):
        spec = spec[len("hf-hub:") :]
    if not _REPO_RE.match(spec) or "--" in spec or spec.endswith(".") or "/." in spec:
        raise ModelSourceError(
            f"{spec!r} is not a valid Hub repo id: expected owner/name made of letters, digits, '-', '_' and '.', "
            "e.g. timm/resnet18.a1_in1k"
        )
    if revision is not None and (not _REVISION_RE.match(revision) or ".." in revision):
        raise ModelSourceError(f"{revision!r} is not a valid revision: expected a branch, tag or commit sha")
    return ModelSource("hub", spec, revision)


def resolve_source(model_id: str | None, revision: str | None, default: ModelSource) -> ModelSource:
    """What the public UI/API may name: the app's startup model ("default" / blank) or a Hub repo, never a path."""
    source = parse_source(model_id, revision, allow_local=False)
    return default if source.kind == "default" else source
