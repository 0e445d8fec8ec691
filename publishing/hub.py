"""The upload: the folder's three files in one commit on a Hub branch, and the checks made before any work."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, get_token

from explainers.models.sources import parse_source

from .errors import UploadError
from .folder import FOLDER_FILES
from .gallery import gallery_files

_SHA_RE = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class UploadResult:
    """Where an upload landed."""

    repo_id: str
    repo_url: str
    revision: str
    commit_sha: str
    commit_url: str
    new_commit: bool


def check_repo_id(value: str) -> str:
    """The owner/name a --repo-id names, by the Hub's rules and the Space loader's.

    Raises:
        ExplainerError: it is not a valid Hub repo id.
        UploadError: it carries a revision (owner/name@rev).
    """
    repo_id = parse_source(value).ref  # owner/name rules of the Hub and of the Space's loader
    if "@" in value:
        raise UploadError("--repo-id takes owner/name only; give the branch with --revision")
    return repo_id


def check_branch(revision: str) -> None:
    """Refuse a --revision that is not a branch name.

    Raises:
        UploadError: it is a commit sha or a refs/ path.
    """
    if _SHA_RE.match(revision) or revision.startswith("refs/"):
        raise UploadError(f"--revision {revision!r} must be a branch name; commits are made on branches")


def require_token() -> None:
    """Refuse to start an upload that could not authenticate.

    Raises:
        UploadError: neither HF_TOKEN nor a cached login holds a token.
    """
    if get_token() is None:
        raise UploadError(
            "no Hugging Face token: set HF_TOKEN or run `hf auth login` (a token with write access to the repo's owner)"
        )


def upload(
    folder: str | Path,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    endpoint: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
) -> UploadResult:
    """Create the repo (and branch) if missing and commit the folder's three files (and gallery/) in one commit.

    HfApi.create_commit rather than upload_folder: with hf_xet installed, upload_folder streams through a pipeline
    that may split a folder into several commits, and config.json, weights and card must change together.

    Args:
        folder: a folder built by build_folder and checked by verify_folder.
        repo_id: owner/name.
        revision: the branch to commit to; created from main if missing.
        private: make the repo private if it is created now (an existing repo keeps its visibility).
        endpoint: the Hub URL; HF_ENDPOINT or huggingface.co when left out.
        token: a token; the normal lookup (HF_TOKEN, then the cached login) when left out.
        commit_message: the commit's summary.
    """
    branch = revision or "main"
    api = HfApi(endpoint=endpoint, token=token)
    repo_url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    if branch != "main":
        api.create_branch(repo_id, branch=branch, exist_ok=True)
    head = api.repo_info(repo_id, revision=branch).sha
    folder = Path(folder)
    info = api.create_commit(  # validates README.md's metadata with the Hub before uploading anything
        repo_id=repo_id,
        operations=[
            CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name))
            for name in (*FOLDER_FILES, *gallery_files(folder))
        ],
        revision=branch,
        commit_message=commit_message or f"Upload {repo_id} with upload_model.py",
    )
    return UploadResult(repo_id, str(repo_url), branch, info.oid, info.commit_url, new_commit=info.oid != head)
