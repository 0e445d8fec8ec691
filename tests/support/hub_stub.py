"""A local, in-memory stand-in for the Hugging Face Hub HTTP API, for offline tests of the real huggingface_hub client.

Model repos named ``owner/name`` are served, and dataset repos (``repo_type="dataset"``) for uploads: create_repo,
create_commit and CommitScheduler (their routes under /api/datasets/ mirror the model routes). Every file is a
regular git blob served straight from memory: the stub never redirects to a CDN, never answers with LFS or Xet
metadata, and tells the upload client that every file is "regular", so downloads and uploads need nothing but this
server. Routes follow huggingface_hub 2.4.0:

    HEAD|GET /{repo}/resolve/{rev}/{path}         hf_hub_download, file_exists, timm hf-hub: weights and config
    GET  /api/models/{repo}[/revision/{rev}]      model_info, repo_info, repo_exists; snapshot_download's rev -> sha
    GET  /api/models/{repo}/tree/{rev}[/{path}]   list_repo_tree, list_repo_files, snapshot_download (Link paging)
    POST /api/models/{repo}/paths-info/{rev}      get_paths_info
    GET  /api/models/{repo}/refs                  list_repo_refs
    GET  /api/models/{repo}/commits/{rev}         list_repo_commits
    POST /api/repos/create                        create_repo (new repos get an initial ".gitattributes" commit)
    POST /api/validate-yaml                       upload_folder / create_commit when README.md is uploaded
    POST /api/models/{repo}/preupload/{rev}       upload_folder, create_commit, upload_file
    POST /api/models/{repo}/commit/{rev}          the same (ndjson body; ?create_pr=1 opens refs/pr/N)
    POST /api/models/{repo}/branch/{branch}       create_branch
    POST /api/models/{repo}/discussions           create_pull_request (upload_folder(create_pr=True) uses it)
    GET  /api/models/{repo}/discussions/{num}     get_discussion_details
    GET  /api/whoami-v2                           whoami

Revisions resolve like the Hub's: a branch name, ``refs/heads/<branch>``, ``refs/pr/<n>`` or a full 40-hex commit
sha (short shas are not accepted). Commits are immutable, so an old sha keeps serving the old content. Writes need an
``Authorization: Bearer <anything>`` header, as on the Hub; reads need none. Anything else answers 501, naming the
route, so a gap in the stub never passes for a Hub error.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import os
import pathlib
import re
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Any, Self
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

__all__ = ["USER", "HubStub"]

USER = "stub-user"
"""Namespace of the token holder: create_repo("name") without an owner creates "stub-user/name"."""

_FULL_SHA = re.compile(r"[0-9a-f]{40}")
# The Hub seeds every repo made by create_repo with a .gitattributes commit; this is the part that matters to us.
_GITATTRIBUTES = (
    b"*.bin filter=lfs diff=lfs merge=lfs -text\n"
    b"*.pt filter=lfs diff=lfs merge=lfs -text\n"
    b"*.pth filter=lfs diff=lfs merge=lfs -text\n"
    b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
)


_Response = tuple[int, dict[str, str], bytes]  # status, headers, body


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _git_blob_sha(data: bytes) -> str:
    """Git object id of a blob, which is what the Hub reports as `oid`, `blobId` and `ETag` of a regular file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class _Commit:
    sha: str
    parent: str | None
    title: str
    message: str
    date: str
    files: Mapping[str, bytes]


@dataclass
class _Repo:
    created: str
    commits: dict[str, _Commit] = field(default_factory=dict)  # sha -> commit, oldest first
    refs: dict[str, str] = field(default_factory=dict)  # "main" or "refs/pr/1" -> sha
    discussions: list[dict[str, Any]] = field(default_factory=list)  # index = num - 1

    def resolve(self, revision: str) -> str | None:
        """Commit sha a revision points at, or None."""
        name = revision.removeprefix("refs/heads/")
        if name in self.refs:
            return self.refs[name]
        if _FULL_SHA.fullmatch(revision) and revision in self.commits:
            return revision
        return None


class _HubError(Exception):
    """An error answer, carrying the headers huggingface_hub maps to its exception classes."""

    def __init__(self, status: int, message: str, code: str | None = None, commit: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.commit = status, message, code, commit


class HubStub:
    """The Hub's HTTP API for model repos, in memory, on 127.0.0.1 at a free port.

    Use as a context manager (or call `start` and `stop`). The socket is bound on construction, so `url` is known
    before the server starts. All methods are thread-safe.

    Attributes:
        url: Base URL to pass as `endpoint=` or `HF_ENDPOINT`, e.g. "http://127.0.0.1:54321".
        requests: Log of (method, path) for every request, path percent-decoded and without its query string,
            e.g. ("HEAD", "/acme/net/resolve/main/model.safetensors").
        page_size: Entries per page of /tree listings; the Hub uses 1000. Lower it to exercise pagination.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._repos: dict[str, _Repo] = {}
        self._counter = itertools.count()
        self.requests: list[tuple[str, str]] = []
        self.page_size = 1000
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        # Keep-alive connections from the client's pool park a handler thread in readline(); never wait for them.
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Serve requests from a background thread; calling it again while running does nothing."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this HubStub was stopped; create a new one")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._server.serve_forever, args=(0.05,), name="hub-stub", daemon=True
                )
                self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; the stub cannot be restarted."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._server.shutdown()
            thread.join()
        self._server.server_close()
        # Also drop the client's pooled keep-alive connections, or their handler threads would go on answering.
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ test-side API

    def add_repo(self, repo_id: str, files: Mapping[str, bytes | str | pathlib.Path], *, revision: str = "main") -> str:
        """Create or extend a repo with one new commit on branch `revision`.

        Args:
            repo_id: "owner/name".
            files: Path in repo -> content: bytes as is, str as UTF-8 text, pathlib.Path read from disk. Files not
                named keep their previous content.
            revision: Branch to commit to. A new branch starts from the head of "main" (or empty).

        Returns:
            The 40-hex sha of the new commit.
        """
        if repo_id.count("/") != 1 or not all(repo_id.split("/")):
            raise ValueError(f"expected a repo id like 'owner/name', got {repo_id!r}")
        if _FULL_SHA.fullmatch(revision) or revision.startswith("refs/"):
            raise ValueError(f"expected a branch name to commit to, got {revision!r}")
        blobs = {path: _as_bytes(content) for path, content in files.items()}
        with self._lock:
            repo = self._repos.setdefault(repo_id, _Repo(created=_now()))
            if revision not in repo.refs and "main" in repo.refs:
                repo.refs[revision] = repo.refs["main"]
            commit = self._commit(repo_id, repo, revision, blobs, set(), f"Add {len(blobs)} file(s)", "")
        return commit.sha

    def files(self, repo_id: str, revision: str = "main", *, repo_type: str = "model") -> dict[str, bytes]:
        """Content of every file of a repo (a dataset repo with repo_type="dataset") at a branch, PR ref or sha."""
        with self._lock:
            repo = self._get_repo(_key(repo_id, repo_type))
            sha = repo.resolve(revision)
            if sha is None:
                raise KeyError(f"repo {repo_id} has no revision {revision!r}; refs: {sorted(repo.refs)}")
            return dict(repo.commits[sha].files)

    def commits(self, repo_id: str, *, repo_type: str = "model") -> list[str]:
        """Shas of every commit of a repo, on any branch, oldest first."""
        with self._lock:
            return list(self._get_repo(_key(repo_id, repo_type)).commits)

    def client_env(self, hf_home: str | os.PathLike[str], *, token: str | None = None) -> dict[str, str]:
        """Environment for a subprocess whose huggingface_hub (and timm) must talk to this stub only.

        Args:
            hf_home: Empty folder for the client's cache and token (HF_HOME).
            token: Sent as HF_TOKEN when given; otherwise the subprocess has no token.

        Returns:
            A copy of os.environ with HF_ENDPOINT pointing here, offline mode, tokens and proxies for 127.0.0.1
            cleared, telemetry off and torch pinned to one thread.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        env.pop("TRANSFORMERS_OFFLINE", None)
        env.update(
            HF_ENDPOINT=self.url,
            HF_HOME=os.fspath(hf_home),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HUB_DISABLE_UPDATE_CHECK="1",
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
            OMP_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
        )
        if token is not None:
            env["HF_TOKEN"] = token
        return env

    # ------------------------------------------------------------------ state changes (lock held)

    def _get_repo(self, repo_id: str) -> _Repo:
        if repo_id not in self._repos:
            raise KeyError(f"no repo {repo_id!r}; known: {sorted(self._repos)}")
        return self._repos[repo_id]

    def _commit(
        self,
        repo_id: str,
        repo: _Repo,
        ref: str,
        added: Mapping[str, bytes],
        deleted: set[str],
        title: str,
        message: str,
    ) -> _Commit:
        parent = repo.refs.get(ref)
        files = dict(repo.commits[parent].files) if parent else {}
        for path in deleted:  # a deleted folder ends with "/"
            files = {p: c for p, c in files.items() if not (p.startswith(path) if path.endswith("/") else p == path)}
        files.update(added)
        seed = json.dumps(
            [repo_id, parent, next(self._counter), title, sorted((p, _git_blob_sha(c)) for p, c in files.items())]
        )
        sha = hashlib.sha1(seed.encode()).hexdigest()
        commit = _Commit(sha, parent, title, message, _now(), MappingProxyType(files))
        repo.commits[sha] = commit
        repo.refs[ref] = sha
        return commit

    # ------------------------------------------------------------------ request handling

    def _handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> _Response:
        split = urlsplit(raw_path)
        parts = [unquote(p) for p in split.path.split("/")[1:]]
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        try:
            with self._lock:
                self.requests.append((method, "/" + "/".join(parts)))
                if parts[:1] == ["api"]:
                    return self._api(method, parts[1:], query, headers, body, raw_path)
                if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
                    return self._resolve("/".join(parts[:2]), parts[3], "/".join(parts[4:]))
                raise _not_implemented(method, split.path)
        except _HubError as err:
            out = {"Content-Type": "application/json"}
            if err.code:
                out["X-Error-Code"] = err.code
            out["X-Error-Message"] = err.message.encode("ascii", "backslashreplace").decode()  # headers are latin-1
            if err.commit:
                out["X-Repo-Commit"] = err.commit
            return err.status, out, json.dumps({"error": err.message}).encode()

    def _repo_at(self, repo_id: str, revision: str) -> tuple[_Repo, _Commit]:
        repo = self._repos.get(repo_id)
        if repo is None:
            raise _HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        sha = repo.resolve(revision)
        if sha is None:
            raise _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return repo, repo.commits[sha]

    def _resolve(self, repo_id: str, revision: str, path: str) -> _Response:
        _, commit = self._repo_at(repo_id, revision)
        if path not in commit.files:
            raise _HubError(404, f"Entry not found: {path}", "EntryNotFound", commit=commit.sha)
        content = commit.files[path]
        # X-Repo-Commit and ETag are mandatory for hf_hub_download; Content-Length gives it the expected size.
        headers = {
            "Content-Type": "application/octet-stream",
            "X-Repo-Commit": commit.sha,
            "ETag": f'"{_git_blob_sha(content)}"',
        }
        return 200, headers, content

    def _api(
        self, method: str, parts: list[str], query: dict[str, str], headers: Mapping[str, str], body: bytes, raw: str
    ) -> _Response:
        route = (method, parts[0] if parts else "")
        if route == ("GET", "whoami-v2"):
            _require_token(headers)
            return _json(
                {
                    "type": "user",
                    "name": USER,
                    "fullname": "Stub User",
                    "orgs": [],
                    "auth": {"type": "access_token", "accessToken": {"displayName": "stub", "role": "write"}},
                }
            )
        if route == ("POST", "validate-yaml"):
            return _json({"errors": [], "warnings": []})
        if route == ("POST", "repos") and parts[1:] == ["create"]:
            return self._create_repo(headers, body)
        if parts[:1] in (["models"], ["datasets"]) and len(parts) >= 3:
            repo_id = _key("/".join(parts[1:3]), parts[0][:-1])
            return self._model_api(method, repo_id, parts[3:], query, headers, body)
        raise _not_implemented(method, urlsplit(raw).path)

    def _create_repo(self, headers: Mapping[str, str], body: bytes) -> _Response:
        _require_token(headers)
        payload = json.loads(body)
        kind = payload.get("type", "model")
        if kind not in ("model", "dataset"):
            raise _HubError(501, f"HubStub serves model and dataset repos only, not {kind!r} repos")
        repo_id = f"{payload.get('organization') or USER}/{payload['name']}"
        key = _key(repo_id, kind)
        url = f"{self.url}/{key}"
        if key in self._repos:
            return _json({"error": f"You already created this {kind} repo", "url": url}, 409)
        repo = self._repos[key] = _Repo(created=_now())
        self._commit(key, repo, "main", {".gitattributes": _GITATTRIBUTES}, set(), "initial commit", "")
        return _json({"url": url, "name": repo_id, "id": repo_id})

    def _model_api(
        self,
        method: str,
        repo_id: str,
        rest: list[str],
        query: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Response:
        action, arg = (rest[0], "/".join(rest[1:])) if rest else ("", "")
        if method == "GET" and action in ("", "revision"):
            return self._model_info(repo_id, arg or "main", blobs=_truthy(query.get("blobs")))
        if method == "GET" and action == "tree" and len(rest) >= 2:
            return self._tree(repo_id, rest[1], "/".join(rest[2:]), query)
        if method == "GET" and action == "refs":
            return self._refs(repo_id, include_prs=_truthy(query.get("include_prs")))
        if method == "GET" and action == "commits" and arg:
            return self._history(repo_id, arg)
        if method == "POST" and action == "paths-info" and arg:
            form = parse_qs(body.decode())
            _, commit = self._repo_at(repo_id, arg)
            entries = _entries(commit.files)
            return _json([entries[p.strip("/")] for p in form.get("paths", []) if p.strip("/") in entries])
        if method == "GET" and action == "discussions" and arg.isdigit():
            return self._discussion(repo_id, int(arg))
        if method == "POST":
            _require_token(headers)
            if action == "preupload" and arg:
                return self._preupload(repo_id, arg, json.loads(body))
            if action == "commit" and arg:
                return self._create_commit(repo_id, arg, body, create_pr=query.get("create_pr") == "1")
            if action == "branch" and arg:
                return self._create_branch(repo_id, arg, json.loads(body or b"{}").get("startingPoint"))
            if action == "discussions" and not arg:
                return self._open_discussion(repo_id, json.loads(body))
        where = repo_id if repo_id.startswith("datasets/") else f"models/{repo_id}"
        raise _not_implemented(method, f"/api/{where}/" + "/".join(rest))

    def _model_info(self, repo_id: str, revision: str, *, blobs: bool) -> _Response:
        repo, commit = self._repo_at(repo_id, revision)
        siblings = [
            {"rfilename": p, "size": len(c), "blobId": _git_blob_sha(c)} if blobs else {"rfilename": p}
            for p, c in sorted(commit.files.items())
        ]
        return _json(
            {
                "_id": commit.sha[:24],
                "id": repo_id,
                "modelId": repo_id,
                "author": repo_id.split("/")[0],
                "sha": commit.sha,
                "lastModified": commit.date,
                "createdAt": repo.created,
                "private": False,
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": siblings,
                "usedStorage": sum(len(c) for c in commit.files.values()),
            }
        )

    def _tree(self, repo_id: str, revision: str, path: str, query: dict[str, str]) -> _Response:
        _, commit = self._repo_at(repo_id, revision)
        entries = _entries(commit.files)
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        if prefix and entries.get(prefix.rstrip("/"), {}).get("type") != "directory":
            raise _HubError(404, f"{path} does not exist on {revision}", "EntryNotFound", commit=commit.sha)
        recursive = _truthy(query.get("recursive"))
        listed = [
            e for p, e in sorted(entries.items()) if p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])
        ]
        start = int(query.get("cursor", "0"))
        page, headers = listed[start : start + self.page_size], {}
        if start + self.page_size < len(listed):
            # Cursor pagination through a GitHub-style Link header, as the Hub does.
            next_query = urlencode({**query, "cursor": start + self.page_size})
            base = f"{self.url}/api/models/{repo_id}/tree/{quote(revision, safe='')}"
            headers["Link"] = f'<{base}{"/" + quote(path, safe="") if path else ""}?{next_query}>; rel="next"'
        status, out, body = _json(page)
        return status, {**out, **headers}, body

    def _refs(self, repo_id: str, *, include_prs: bool) -> _Response:
        repo = self._repos.get(repo_id)
        if repo is None:
            raise _HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        branches = [
            {"name": n, "ref": f"refs/heads/{n}", "targetCommit": s}
            for n, s in repo.refs.items()
            if not n.startswith("refs/")
        ]
        pulls = [{"name": n, "ref": n, "targetCommit": s} for n, s in repo.refs.items() if n.startswith("refs/pr/")]
        data: dict[str, Any] = {"branches": branches, "converts": [], "tags": []}
        if include_prs:
            data["pullRequests"] = pulls
        return _json(data)

    def _history(self, repo_id: str, revision: str) -> _Response:
        repo, commit = self._repo_at(repo_id, revision)
        items: list[dict[str, Any]] = []
        current: _Commit | None = commit
        while current is not None:
            items.append(
                {
                    "id": current.sha,
                    "title": current.title,
                    "message": current.message,
                    "date": current.date,
                    "authors": [{"user": USER}],
                }
            )
            current = repo.commits[current.parent] if current.parent else None
        return _json(items)

    def _preupload(self, repo_id: str, revision: str, payload: dict[str, Any]) -> _Response:
        _, commit = self._repo_at(repo_id, revision)
        # "regular" for every file: the client then sends contents base64-encoded inside the commit payload, so
        # neither LFS nor Xet storage is involved. "oid" lets it skip files whose content did not change.
        files = [
            {
                "path": f["path"],
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": _git_blob_sha(commit.files[f["path"]]) if f["path"] in commit.files else None,
            }
            for f in payload["files"]
        ]
        return _json({"files": files, "commitOid": commit.sha})

    def _create_commit(self, repo_id: str, revision: str, body: bytes, *, create_pr: bool) -> _Response:
        repo, head = self._repo_at(repo_id, revision)
        ref = revision.removeprefix("refs/heads/")
        if ref not in repo.refs:
            raise _HubError(400, f"Invalid rev id: {revision} is not a branch or pull request ref")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise _HubError(400, "the commit payload must start with a header line")
        header = lines[0]["value"]
        if header.get("parentCommit") not in (None, head.sha):
            raise _HubError(412, f"parentCommit {header['parentCommit']} is not the head of {revision} ({head.sha})")
        added: dict[str, bytes] = {}
        deleted: set[str] = set()
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                content = value["content"]
                added[value["path"]] = (
                    base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
                )
            elif key == "deletedFile":
                deleted.add(value["path"])
            elif key == "deletedFolder":
                deleted.add(value["path"].rstrip("/") + "/")
            else:
                raise _HubError(400, f"HubStub answers uploadMode 'regular' only and cannot take a {key!r} operation")
        pr_url = None
        if create_pr:
            num = self._new_discussion(repo, header["summary"], header.get("description", ""), base=ref)
            ref = f"refs/pr/{num}"
            pr_url = f"{self.url}/{repo_id}/discussions/{num}"
        commit = self._commit(repo_id, repo, ref, added, deleted, header["summary"], header.get("description", ""))
        return _json(
            {
                "success": True,
                "commitOid": commit.sha,
                "commitUrl": f"{self.url}/{repo_id}/commit/{commit.sha}",
                "pullRequestUrl": pr_url,
                "hookOutput": "",
            }
        )

    def _create_branch(self, repo_id: str, branch: str, starting_point: str | None) -> _Response:
        repo, start = self._repo_at(repo_id, starting_point or "main")
        if branch.startswith("refs/") or _FULL_SHA.fullmatch(branch):
            raise _HubError(400, f"Invalid branch name: {branch}")
        if branch in repo.refs:
            raise _HubError(409, f"Reference already exists: refs/heads/{branch}")
        repo.refs[branch] = start.sha
        return _json({})

    def _new_discussion(self, repo: _Repo, title: str, description: str, *, base: str | None) -> int:
        num = len(repo.discussions) + 1
        repo.discussions.append({"num": num, "title": title, "description": description, "base": base, "date": _now()})
        if base is not None:
            repo.refs[f"refs/pr/{num}"] = repo.refs[base]
        return num

    def _open_discussion(self, repo_id: str, payload: dict[str, Any]) -> _Response:
        repo, _ = self._repo_at(repo_id, "main")
        base = "main" if payload.get("pullRequest") else None
        num = self._new_discussion(repo, payload["title"], payload.get("description") or "", base=base)
        return _json({"num": num, "url": f"{self.url}/{repo_id}/discussions/{num}"})

    def _discussion(self, repo_id: str, num: int) -> _Response:
        repo, _ = self._repo_at(repo_id, "main")
        if not 0 < num <= len(repo.discussions):
            raise _HubError(404, f"Discussion {num} not found on {repo_id}")
        d = repo.discussions[num - 1]
        is_pr = d["base"] is not None
        return _json(
            {
                "num": num,
                "title": d["title"],
                "status": "draft" if is_pr else "open",
                "isPullRequest": is_pr,
                "createdAt": d["date"],
                "author": {"name": USER},
                "repo": {"name": repo_id, "type": "model"},
                "events": [],
                "changes": {"base": f"refs/heads/{d['base']}"} if is_pr else {},
                "filesWithConflicts": [],
                "diff": "",
            }
        )


# ---------------------------------------------------------------------- helpers


def _key(repo_id: str, repo_type: str) -> str:
    """Where a repo is kept: model repos under their id, dataset repos under "datasets/<id>" (as in Hub URLs)."""
    return repo_id if repo_type == "model" else f"{repo_type}s/{repo_id}"


def _as_bytes(content: bytes | str | pathlib.Path) -> bytes:
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode()
    if isinstance(content, pathlib.Path):
        return content.read_bytes()
    raise TypeError(f"expected bytes, str or pathlib.Path file content, got {type(content).__name__}")


def _entries(files: Mapping[str, bytes]) -> dict[str, dict[str, Any]]:
    """Tree entries (files and their parent folders) keyed by path, in the /tree and /paths-info JSON shape."""
    entries: dict[str, dict[str, Any]] = {}
    for path, content in files.items():
        entries[path] = {"type": "file", "oid": _git_blob_sha(content), "size": len(content), "path": path}
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            oid = hashlib.sha1(f"tree {folder}".encode()).hexdigest()
            entries.setdefault(folder, {"type": "directory", "oid": oid, "size": 0, "path": folder})
    return entries


def _truthy(value: str | None) -> bool:
    """A boolean query parameter as httpx writes it ("true") or as people do ("1")."""
    return value in ("true", "True", "1")


def _json(data: Any, status: int = 200) -> _Response:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


def _require_token(headers: Mapping[str, str]) -> None:
    if not headers.get("authorization", "").startswith("Bearer "):
        # The Hub's wording, which huggingface_hub keeps as a plain 401 rather than a RepositoryNotFoundError.
        raise _HubError(401, "Invalid credentials in Authorization header")


def _not_implemented(method: str, path: str) -> _HubError:
    return _HubError(501, f"HubStub does not implement {method} {path}")


def _make_handler(stub: HubStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 keep-alive, as the client's pooled connections expect; every answer carries Content-Length.
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with stub._lock:
                stub._connections.add(self.connection)

        def finish(self) -> None:
            with stub._lock:
                stub._connections.discard(self.connection)
            super().finish()

        def _serve(self, method: str) -> None:
            body = self._read_body()  # read before answering, or the next request on this connection breaks
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out, payload = stub._handle(method, self.path, headers, body)
            self.send_response(status)
            for key, value in out.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(payload)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline().strip():  # trailers
                    pass
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self) -> None:  # http.server's naming
            self._serve("GET")

        def do_HEAD(self) -> None:
            self._serve("HEAD")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests read `HubStub.requests` instead of stderr

    return Handler
