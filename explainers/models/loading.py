"""Model loading: a source (Hub id@revision, local folder, built-in default) -> LoadedModel; safetensors only."""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import socket
import threading
import urllib.parse
from collections import OrderedDict
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import timm
import torch
from timm.models._hub import load_model_config_from_path  # timm exports no public name for it

from ..errors import ConfigError, HubUnavailableError, ModelSourceError, UnsafeWeightsError
from ..types import LoadedModel, ModelSource
from .default import ensure_default_model
from .sources import CONFIG_NAME, WEIGHTS_NAME, parse_source
from .tasks import parse_task

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".bin", ".pth", ".pt", ".ckpt", ".pkl")
# Refuse configs whose model_args would build something absurd before a single weight is downloaded.
MAX_PARAMS = 2_000_000_000
MAX_CACHED_MODELS = int(os.environ.get("XAI_MAX_CACHED_MODELS", "3"))

_cache: OrderedDict[ModelSource, LoadedModel] = OrderedDict()
_cache_lock = threading.Lock()
_source_locks: dict[ModelSource, threading.Lock] = {}


def best_device() -> torch.device:
    """cuda, then mps, then cpu (XAI_DEVICE overrides)."""
    if os.environ.get("XAI_DEVICE"):
        return torch.device(os.environ["XAI_DEVICE"])
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def load_model(
    source: ModelSource | str | None = None, *, device: torch.device | None = None, cache: bool = True
) -> LoadedModel:
    """Load (once, then from memory) a model from its source.

    Args:
        source: a ModelSource, or a string for parse_source (local paths allowed here: the caller decides).
        device: where to run it; best_device() by default.
        cache: False builds a fresh model and leaves the in-memory cache alone (upload_model.py proves a folder so).

    Raises:
        ModelSourceError: and subclasses, for anything wrong with the repo, its config or its weights.
        HubUnavailableError: the Hub cannot be reached and the files are not cached.
    """
    if not isinstance(source, ModelSource):
        source = parse_source(source, allow_local=True)
    if not cache:
        return _load_uncached(source, device or best_device())
    with _cache_lock:
        if source in _cache:
            _cache.move_to_end(source)
            return _cache[source]
        lock = _source_locks.setdefault(source, threading.Lock())
    with lock:  # one load per source at a time; others wait and take it from the cache
        with _cache_lock:
            if source in _cache:
                return _cache[source]
        loaded = _load_uncached(source, device or best_device())
        with _cache_lock:
            _cache[source] = loaded
            while len(_cache) > MAX_CACHED_MODELS:
                _cache.popitem(last=False)
        return loaded


def _load_uncached(source: ModelSource, device: torch.device) -> LoadedModel:
    if source.kind == "default":
        folder = ensure_default_model()
        return _load_folder(folder, source, "default", None, device)
    if source.kind == "local":
        folder = Path(source.ref)
        _refuse_pickle_only(folder.name, [p.name for p in folder.iterdir()] if folder.is_dir() else [])
        return _load_folder(folder, source, folder.name, None, device)
    config_path, sha = _hub_download(source, CONFIG_NAME)
    _check_config(config_path, source.ref)  # before the (large) weights download
    weights_path, _ = _hub_download(source, WEIGHTS_NAME, revision=sha)
    return _load_folder(Path(config_path).parent, source, source.ref, sha, device, weights_path=Path(weights_path))


def _load_folder(
    folder: Path,
    source: ModelSource,
    model_id: str,
    revision: str | None,
    device: torch.device,
    *,
    weights_path: Path | None = None,
) -> LoadedModel:
    config_file = folder / CONFIG_NAME
    weights_file = weights_path or folder / WEIGHTS_NAME
    if not config_file.is_file():
        raise ConfigError(
            f"{model_id} has no {CONFIG_NAME}; expected timm's Hub layout ({CONFIG_NAME} + "
            f"{WEIGHTS_NAME}), e.g. as written by upload_model.py"
        )
    raw = _check_config(config_file, model_id)
    pretrained_cfg, arch, model_args = load_model_config_from_path(folder)
    num_classes = int(raw.get("num_classes") or pretrained_cfg.get("num_classes") or 0)
    task = parse_task(raw, model_id, num_classes)
    if not weights_file.is_file():
        raise UnsafeWeightsError(
            f"{model_id} has no {WEIGHTS_NAME}; only safetensors weights are loaded. "
            "Convert a checkpoint with: python upload_model.py --weights CKPT ..."
        )
    model = _build(arch, model_args, pretrained_cfg, num_classes, model_id)
    state = _read_safetensors(weights_file, model_id)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ConfigError(
            f"{model_id}: {WEIGHTS_NAME} does not fit architecture {arch} with {num_classes} outputs "
            f"({_first_lines(str(exc))}); check num_classes/model_args in {CONFIG_NAME}"
        ) from exc
    model.eval().requires_grad_(False).to(device)
    data_config = timm.data.resolve_model_data_config(model)
    return LoadedModel(
        model=model,
        source=source,
        model_id=model_id,
        revision=revision,
        weights_sha256=sha256_file(weights_file),
        architecture=arch,
        data_config=dict(data_config),
        task=task,
        device=device,
    )


def _check_config(config_file: str | Path, model_id: str) -> dict[str, Any]:
    try:
        raw = json.loads(Path(config_file).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{model_id}: {CONFIG_NAME} is not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{model_id}: {CONFIG_NAME} must be a JSON object, got {type(raw).__name__}")
    arch = raw.get("architecture")
    if not isinstance(arch, str) or not arch:
        raise ConfigError(f"{model_id}: {CONFIG_NAME} has no 'architecture' (timm model name)")
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"{model_id}: architecture {arch!r} is not a timm model (timm {timm.__version__}){hint}")
    if not isinstance(raw.get("model_args", {}), dict):
        raise ConfigError(f"{model_id}: 'model_args' in {CONFIG_NAME} must be an object")
    return raw


def _build(
    arch: str, model_args: dict[str, Any], pretrained_cfg: dict[str, Any], num_classes: int, model_id: str
) -> torch.nn.Module:
    kwargs = dict(model_args)
    kwargs["num_classes"] = num_classes
    try:
        with torch.device("meta"):  # count parameters without allocating them
            probe = timm.create_model(arch, pretrained=False, pretrained_cfg=pretrained_cfg, **kwargs)
        n_params = sum(p.numel() for p in probe.parameters())
    except TypeError as exc:
        raise ConfigError(f"{model_id}: model_args {sorted(model_args)} are not accepted by {arch} ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - a model that cannot be built on meta is still checked by the real build
        log.info("meta build of %s failed (%s); building for real", arch, exc)
        n_params = 0
    if n_params > MAX_PARAMS:
        raise ConfigError(
            f"{model_id}: {arch} with these model_args has {n_params / 1e9:.1f}B parameters, over this "
            f"Space's limit of {MAX_PARAMS / 1e9:.0f}B; check model_args in {CONFIG_NAME}"
        )
    try:
        return timm.create_model(arch, pretrained=False, pretrained_cfg=pretrained_cfg, **kwargs)
    except (TypeError, ValueError, AssertionError) as exc:
        raise ConfigError(f"{model_id}: cannot build {arch} with model_args {model_args} ({exc})") from exc


def _read_safetensors(path: Path, model_id: str) -> dict[str, torch.Tensor]:
    try:
        return safetensors.torch.load_file(str(path), device="cpu")
    except (safetensors.SafetensorError, OSError, ValueError) as exc:
        raise ConfigError(f"{model_id}: {WEIGHTS_NAME} is not a readable safetensors file ({exc})") from exc


def _refuse_pickle_only(model_id: str, names: list[str]) -> None:
    if WEIGHTS_NAME in names:
        return
    pickles = [n for n in names if n.endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise UnsafeWeightsError(
            f"{model_id} has only pickle weights ({', '.join(sorted(pickles))}) and no {WEIGHTS_NAME}; pickle files "
            "can run code when loaded and are refused. Convert them with: python upload_model.py --weights "
            f"{sorted(pickles)[0]} --arch ARCH --labels labels.txt --license LICENSE --dry-run OUT_DIR"
        )


def _hub_download(source: ModelSource, filename: str, *, revision: str | None = None) -> tuple[str, str]:
    """Download one file of a Hub repo; returns (local path, resolved commit sha)."""
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub import errors as hf_errors

    rev = revision or source.revision
    where = f"{source.ref}@{rev}" if rev else source.ref
    local_only = bool(constants.HF_HUB_OFFLINE) or not _endpoint_reachable(constants.ENDPOINT)
    try:
        path = huggingface_hub.hf_hub_download(source.ref, filename, revision=rev, local_files_only=local_only)
    # LocalEntryNotFoundError subclasses EntryNotFoundError in huggingface_hub 2.x: it must be caught first.
    except (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled) as exc:
        raise HubUnavailableError(
            f"{where} is not in the local cache and the Hub ({constants.ENDPOINT}) cannot be reached"
            f"{' (HF_HUB_OFFLINE is set)' if constants.HF_HUB_OFFLINE else ''}; connect to the internet once, or use "
            "the built-in default model"
        ) from exc
    except hf_errors.GatedRepoError as exc:
        raise ModelSourceError(f"{where} is gated: accept its terms on the Hub and set HF_TOKEN") from exc
    except hf_errors.RepositoryNotFoundError as exc:
        raise ModelSourceError(f"repo {source.ref} was not found on the Hub (if it is private, set HF_TOKEN)") from exc
    except hf_errors.RevisionNotFoundError as exc:
        raise ModelSourceError(
            f"revision {rev!r} was not found in {source.ref}; use a branch, tag or commit sha that exists"
        ) from exc
    except hf_errors.EntryNotFoundError as exc:
        if filename == WEIGHTS_NAME:
            _refuse_pickle_only(where, _list_repo_files(source.ref, rev))
            raise UnsafeWeightsError(
                f"{where} has no {WEIGHTS_NAME}; only safetensors weights are loaded. Publish them with upload_model.py"
            ) from exc
        raise ConfigError(
            f"{where} has no {filename}: it is not a timm model repo (expected {CONFIG_NAME} + "
            f"{WEIGHTS_NAME}); publish it with upload_model.py"
        ) from exc
    sha = Path(path).parent.name  # the snapshot folder of a root-level file is named after the commit
    return path, sha


def hub_folder(model: LoadedModel, folder: str) -> Path | None:
    """A folder of a Hub model's repo (e.g. its reference gallery/), at the commit its weights came from.

    Downloaded once into the Hub cache (read from there when offline). None for a model that is not from the Hub or
    whose repo has no such folder.

    Raises:
        HubUnavailableError: the folder is not cached and the Hub cannot be reached.
    """
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub import errors as hf_errors

    if model.source.kind != "hub":
        return None
    local_only = bool(constants.HF_HUB_OFFLINE) or not _endpoint_reachable(constants.ENDPOINT)
    rev = model.revision or model.source.revision
    try:
        root = huggingface_hub.snapshot_download(
            model.source.ref, revision=rev, allow_patterns=[f"{folder}/*"], local_files_only=local_only
        )
    except (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled) as exc:
        raise HubUnavailableError(
            f"{folder}/ of {model.model_id} is not in the local cache and the Hub ({constants.ENDPOINT}) cannot be "
            "reached; connect once to download it"
        ) from exc
    found = Path(root) / folder
    return found if found.is_dir() else None


def _list_repo_files(repo_id: str, revision: str | None) -> list[str]:
    from huggingface_hub import HfApi

    try:
        return list(HfApi().list_repo_files(repo_id, revision=revision))
    except Exception:
        log.info("could not list files of %s", repo_id, exc_info=True)
        return []


def _endpoint_reachable(endpoint: str, timeout: float = 2.0) -> bool:
    """A quick TCP probe, so an absent network costs 2 s instead of the client's ~23 s of retries."""
    url = urllib.parse.urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def sha256_file(path: Path) -> str:
    """The sha256 hex digest of a file, read 1 MB at a time (weights and gallery files run to gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _first_lines(text: str, n: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines[:n])[:400]
