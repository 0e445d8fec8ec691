"""The real huggingface_hub client (and timm's hf-hub: loader) against tests/hub_stub.py, with no network."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator

import huggingface_hub
import pytest
from hub_stub import USER, HubStub
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

TOKEN = "hf_stub_token"


@pytest.fixture(autouse=True)
def _hermetic_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # The client read these at import time; an HF_HUB_OFFLINE=1 set by the test runner would block even 127.0.0.1.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture
def hub() -> Iterator[HubStub]:
    with HubStub() as stub:
        yield stub


def _download(hub: HubStub, cache: pathlib.Path, repo_id: str, filename: str, revision: str | None = None) -> bytes:
    path = hf_hub_download(repo_id, filename, revision=revision, endpoint=hub.url, cache_dir=cache, token=False)
    return pathlib.Path(path).read_bytes()


def _run_client(hub: HubStub, tmp_path: pathlib.Path, code: str, *, token: str | None = None) -> str:
    """Run `code` in a fresh interpreter whose HF_ENDPOINT is the stub, as the app and timm will see it."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=hub.client_env(tmp_path / "hf_home", token=token),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_file_downloads_by_branch_and_by_sha_and_old_shas_keep_old_content(hub, tmp_path):
    first = hub.add_repo("acme/net", {"config.json": '{"v": 1}'})
    second = hub.add_repo("acme/net", {"config.json": '{"v": 2}'})

    assert _download(hub, tmp_path, "acme/net", "config.json") == b'{"v": 2}'
    assert _download(hub, tmp_path, "acme/net", "config.json", revision=second) == b'{"v": 2}'
    assert _download(hub, tmp_path, "acme/net", "config.json", revision=first) == b'{"v": 1}'
    assert hub.commits("acme/net") == [first, second]


def test_a_file_cached_by_sha_is_served_without_any_request(hub, tmp_path):
    sha = hub.add_repo("acme/net", {"config.json": "{}"})
    _download(hub, tmp_path, "acme/net", "config.json", revision=sha)
    hub.requests.clear()

    _download(hub, tmp_path, "acme/net", "config.json", revision=sha)
    assert hub.requests == []
    _download(hub, tmp_path, "acme/net", "config.json")  # a branch is re-resolved with one HEAD every time
    assert hub.requests == [("HEAD", "/acme/net/resolve/main/config.json")]


def test_after_stop_connections_are_refused_and_the_client_falls_back_to_its_cache(tmp_path):
    with HubStub() as hub:
        hub.add_repo("acme/net", {"config.json": "{}"})
        _download(hub, tmp_path, "acme/net", "config.json")  # leaves a pooled keep-alive connection open

    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{hub.url}/acme/net/resolve/main/config.json", timeout=10)
    assert _download(hub, tmp_path, "acme/net", "config.json") == b"{}"  # HEAD refused -> cached main ref


def test_a_new_branch_starts_from_main_and_leaves_main_alone(hub, tmp_path):
    hub.add_repo("acme/net", {"config.json": "main", "README.md": "card"})
    hub.add_repo("acme/net", {"config.json": "dev"}, revision="dev")

    assert hub.files("acme/net", "dev") == {"config.json": b"dev", "README.md": b"card"}
    assert _download(hub, tmp_path, "acme/net", "config.json") == b"main"
    assert _download(hub, tmp_path, "acme/net", "config.json", revision="dev") == b"dev"


@pytest.mark.parametrize(
    ("repo_id", "filename", "revision", "error"),
    [
        ("acme/net", "pytorch_model.bin", None, RemoteEntryNotFoundError),
        ("acme/absent", "config.json", None, RepositoryNotFoundError),
        ("acme/net", "config.json", "no-such-branch", RevisionNotFoundError),
        ("acme/net", "config.json", "0" * 40, RevisionNotFoundError),
    ],
    ids=["missing-file", "missing-repo", "missing-branch", "missing-sha"],
)
def test_a_missing_file_repo_or_revision_raises_the_clients_own_error(
    hub, tmp_path, repo_id, filename, revision, error
):
    hub.add_repo("acme/net", {"config.json": "{}"})
    with pytest.raises(error):
        _download(hub, tmp_path, repo_id, filename, revision=revision)


def test_a_cache_miss_with_local_files_only_raises_local_entry_not_found_which_is_an_entry_not_found(hub, tmp_path):
    hub.add_repo("acme/net", {"config.json": "{}"})
    with pytest.raises(LocalEntryNotFoundError) as caught:
        hf_hub_download("acme/net", "config.json", endpoint=hub.url, cache_dir=tmp_path, local_files_only=True)
    # Catch RemoteEntryNotFoundError for "the repo has no such file": EntryNotFoundError also catches cache misses.
    assert isinstance(caught.value, EntryNotFoundError) and not isinstance(caught.value, RemoteEntryNotFoundError)
    assert hub.requests == []


def test_snapshot_download_fetches_only_the_allowed_patterns(hub, tmp_path):
    sha = hub.add_repo(
        "acme/net",
        {"config.json": "{}", "model.safetensors": b"\0" * 64, "pytorch_model.bin": b"pickle", "docs/a.md": "a"},
    )
    folder = pathlib.Path(
        snapshot_download(
            "acme/net",
            allow_patterns=["*.json", "*.safetensors"],
            endpoint=hub.url,
            cache_dir=tmp_path,
            token=False,
        )
    )

    assert folder.name == sha
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert ("GET", f"/api/models/acme/net/tree/{sha}") in hub.requests
    assert not [path for _, path in hub.requests if path.endswith(("pytorch_model.bin", "a.md"))]


def test_model_info_and_list_repo_files_describe_the_revision_asked_for(hub):
    first = hub.add_repo("acme/net", {"config.json": "{}", "pytorch_model.bin": b"pickle"})
    second = hub.add_repo("acme/net", {"model.safetensors": b"\0" * 8, "sub/dir/notes.txt": "n"})
    hub.page_size = 2  # forces list_repo_files through the Link-header pagination
    api = HfApi(endpoint=hub.url, token=False)

    info = api.model_info("acme/net", files_metadata=True)
    assert info.sha == second
    assert {s.rfilename: s.size for s in info.siblings} == {
        "config.json": 2,
        "pytorch_model.bin": 6,
        "model.safetensors": 8,
        "sub/dir/notes.txt": 1,
    }
    assert [s.rfilename for s in api.model_info("acme/net", revision=first).siblings] == [
        "config.json",
        "pytorch_model.bin",
    ]
    assert sorted(api.list_repo_files("acme/net")) == [
        "config.json",
        "model.safetensors",
        "pytorch_model.bin",
        "sub/dir/notes.txt",
    ]
    assert api.list_repo_files("acme/net", revision=first) == ["config.json", "pytorch_model.bin"]


@pytest.mark.parametrize("pipeline", ["legacy", "pipelined"])
def test_create_repo_and_upload_folder_make_one_commit_whose_files_download(hub, tmp_path, monkeypatch, pipeline):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "config.json").write_text('{"architecture": "test_resnet"}')
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 40)
    (folder / "README.md").write_text("---\nlicense: mit\nlibrary_name: timm\n---\n# Card\n")

    if pipeline == "legacy":  # the single create_commit path, taken when hf_xet is not installed
        monkeypatch.setattr(huggingface_hub.hf_api, "is_xet_available", lambda: False)
        api = HfApi(endpoint=hub.url, token=TOKEN)
        url = api.create_repo("acme/published")
        api.upload_folder(repo_id="acme/published", folder_path=folder, commit_message="Publish")
    else:  # hf_xet is installed here, so upload_folder streams through _upload_pipeline: run it as the app will
        url = _run_client(
            hub,
            tmp_path,
            f"""
            from huggingface_hub import HfApi
            api = HfApi()
            print(api.create_repo("acme/published"))
            api.upload_folder(repo_id="acme/published", folder_path={str(folder)!r}, commit_message="Publish")
            """,
            token=TOKEN,
        ).strip()

    assert url == f"{hub.url}/acme/published"
    initial, published = hub.commits("acme/published")  # create_repo's .gitattributes commit, then one upload
    assert hub.files("acme/published", initial).keys() == {".gitattributes"}
    assert (
        _download(hub, tmp_path / "cache", "acme/published", "model.safetensors", revision=published)
        == (folder / "model.safetensors").read_bytes()
    )
    assert hub.files("acme/published") == {
        ".gitattributes": hub.files("acme/published", initial)[".gitattributes"],
        **{p.name: p.read_bytes() for p in folder.iterdir()},
    }
    assert ("POST", "/api/validate-yaml") in hub.requests


def test_uploading_unchanged_files_makes_no_new_commit(hub, tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.hf_api, "is_xet_available", lambda: False)
    hub.add_repo(f"{USER}/net", {"config.json": "{}"})
    (tmp_path / "config.json").write_text("{}")
    api = HfApi(endpoint=hub.url, token=TOKEN)

    api.create_repo("net", exist_ok=True)  # no owner: the token holder's namespace, as on the Hub
    api.upload_folder(repo_id=f"{USER}/net", folder_path=tmp_path)
    assert len(hub.commits(f"{USER}/net")) == 1


def test_upload_with_create_pr_lands_on_a_pr_ref_and_leaves_main_alone(hub, tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.hf_api, "is_xet_available", lambda: False)
    base = hub.add_repo("acme/net", {"config.json": "old"})
    api = HfApi(endpoint=hub.url, token=TOKEN)
    (tmp_path / "config.json").write_text("new")

    info = api.upload_folder(repo_id="acme/net", folder_path=tmp_path, create_pr=True)
    assert info.pr_revision == "refs/pr/1"
    assert hub.files("acme/net") == {"config.json": b"old"}
    assert hub.files("acme/net", "refs/pr/1") == {"config.json": b"new"}
    assert _download(hub, tmp_path / "cache", "acme/net", "config.json", revision="refs/pr/1") == b"new"
    assert api.list_repo_refs("acme/net").branches[0].target_commit == base


def test_create_branch_then_upload_to_it(hub, tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.hf_api, "is_xet_available", lambda: False)
    hub.add_repo("acme/net", {"config.json": "main"})
    api = HfApi(endpoint=hub.url, token=TOKEN)
    (tmp_path / "config.json").write_text("v2")

    api.create_branch("acme/net", branch="v2")
    api.upload_folder(repo_id="acme/net", folder_path=tmp_path, revision="v2")
    assert hub.files("acme/net", "v2") == {"config.json": b"v2"}
    assert hub.files("acme/net") == {"config.json": b"main"}
    with pytest.raises(HfHubHTTPError, match="409"):
        api.create_branch("acme/net", branch="v2")


def test_writes_without_a_token_are_refused(hub):
    with pytest.raises(HfHubHTTPError, match="401"):
        HfApi(endpoint=hub.url, token=False).create_repo("acme/net")
    with pytest.raises(KeyError, match="no repo 'acme/net'"):
        hub.commits("acme/net")


def test_an_unimplemented_route_answers_501_naming_it(hub):
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{hub.url}/api/spaces/acme/app", timeout=10)
    assert caught.value.code == 501
    assert "GET /api/spaces/acme/app" in caught.value.read().decode()


def test_timm_loads_a_safetensors_only_repo_by_hf_hub_id_and_by_sha(hub, tmp_path):
    import torch
    from timm import create_model
    from timm.models import save_for_hf

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        save_for_hf(create_model("test_resnet", num_classes=3), tmp_path / "tiny", safe_serialization=True)
    finally:
        torch.set_num_threads(threads)
    saved = {p.name: p for p in (tmp_path / "tiny").iterdir()}
    assert set(saved) == {"config.json", "model.safetensors"}
    sha = hub.add_repo("acme/tiny", saved)

    out = _run_client(
        hub,
        tmp_path,
        f"""
        import safetensors.torch, timm, torch
        torch.set_num_threads(1)
        expected = safetensors.torch.load_file({str(saved["model.safetensors"])!r})
        for name in ("hf-hub:acme/tiny", "hf-hub:acme/tiny@{sha}"):
            model = timm.create_model(name, pretrained=True)
            state = model.state_dict()
            assert model.num_classes == 3 and state.keys() == expected.keys(), name
            assert all(torch.equal(state[k], expected[k]) for k in expected), name
        print("loaded")
        """,
    )

    assert out.strip() == "loaded"
    assert hub.requests == [
        ("HEAD", "/acme/tiny/resolve/main/config.json"),
        ("GET", "/acme/tiny/resolve/main/config.json"),
        ("HEAD", "/acme/tiny/resolve/main/model.safetensors"),
        ("GET", "/acme/tiny/resolve/main/model.safetensors"),
        # the @sha load found both files in the cache under that sha: no request at all
    ]
