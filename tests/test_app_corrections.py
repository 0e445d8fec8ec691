"""/correct on the real app (gradio_client): records stored once each under 32 concurrent callers and an export,
bad input refused with our message and nothing stored, the rate limit, and the owner's status kept off the API."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from helpers_app import assert_our_message, call
from hub_stub import HubStub
from PIL import Image
from servers import running_app

import app
from explainers.corrections import CorrectionStore, Intake, export
from ui import corrections, i18n

pytestmark = pytest.mark.slow
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CALLERS = 32
PER_MINUTE = 6


@pytest.fixture(scope="module")
def served(fashion_demo, tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("app-data")
    env = {"XAI_DATA_DIR": str(data), "XAI_QUEUE_SIZE": "100", "XAI_CORRECTIONS_PER_MINUTE": str(PER_MINUTE)}
    with running_app(env=env, args=["--model", str(fashion_demo.model_dir), "--owner"]) as url:
        yield url, data


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One distinct 32x32 grey PNG per caller (distinct bytes, so each record's sha256 says whose it is)."""
    folder = tmp_path_factory.mktemp("pictures")
    paths = []
    for i in range(CALLERS + 4):
        pixels = np.full((32, 32), 3 * i, np.uint8)
        pixels[i % 32, :] = 255
        Image.fromarray(pixels).save(folder / f"{i}.png")
        paths.append(folder / f"{i}.png")
    return paths


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_correction_is_stored_with_its_image_prediction_and_answer(served, pictures) -> None:
    url, data = served
    message, summary = Client(url, verbose=False).predict(
        handle_file(str(pictures[-1])), "default", "", "shirt", True, api_name="/correct"
    )
    stored = CorrectionStore(data).get(summary["id"])
    assert stored is not None and stored.answer["label"] == "Shirt" and stored.image == pictures[-1].read_bytes()
    assert stored.prediction["decision"] in CLASSES and stored.image_sha256 == sha256(pictures[-1])
    assert summary["id"][:8] in message and "Shirt" in message and "image" not in summary.get("answer", {})


def test_32_concurrent_callers_and_an_export_store_every_record_once(served, pictures, tmp_path: Path) -> None:
    url, data = served
    clients = [Client(url, verbose=False) for _ in range(CALLERS)]  # one session each, as 32 visitors
    store = CorrectionStore(data)
    before = {r.id for r in store.records(with_images=False)}
    exports: list[int] = []

    def export_meanwhile() -> None:
        exports.append(len(export(CorrectionStore(data), tmp_path / "export").ids))

    exporter = threading.Thread(target=export_meanwhile)
    with ThreadPoolExecutor(CALLERS) as pool:
        jobs = [
            pool.submit(call, c, "correct", [handle_file(str(pictures[i])), "default", "", CLASSES[i % 10], i % 2 == 0])
            for i, c in enumerate(clients)
        ]
        exporter.start()
        results = [job.result() for job in jobs]
    exporter.join()
    new = {r.id: r for r in store.records() if r.id not in before}
    ids = [summary["id"] for _, summary in results]
    assert len(set(ids)) == CALLERS and set(ids) == set(new)  # each stored exactly once, nothing else stored
    for i, record_id in enumerate(ids):  # and nothing mixed between callers
        record = new[record_id]
        assert record.answer["label"] == CLASSES[i % 10] and record.image_sha256 == sha256(pictures[i])
        assert (record.image is not None) == (i % 2 == 0)
    assert exports and exports[0] >= 1


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ("Sweater", ["no class named 'Sweater'", "Pullover"]),
        ("NaN", ["no class named 'NaN'"]),
        ("Shirt" * 300, ["characters long"]),
        ("", ["no answer was given"]),
    ],
    ids=["unknown label", "nan", "huge string", "empty"],
)
def test_a_bad_answer_gets_our_message_and_nothing_is_stored(served, pictures, answer: str, words: list[str]) -> None:
    url, data = served
    count = CorrectionStore(data).count()
    with pytest.raises(Exception) as info:
        call(Client(url, verbose=False), "correct", [handle_file(str(pictures[0])), "default", "", answer, True])
    assert_our_message(info.value, *words)
    assert CorrectionStore(data).count() == count


def test_no_image_gets_our_message_and_nothing_is_stored(served) -> None:
    url, data = served
    count = CorrectionStore(data).count()
    with pytest.raises(Exception) as info:
        call(Client(url, verbose=False), "correct", [None, "default", "", "Shirt", True])
    assert_our_message(info.value, "no image was given")
    assert CorrectionStore(data).count() == count


def test_a_visitor_over_the_rate_limit_is_refused(served, pictures) -> None:
    url, data = served
    client = Client(url, verbose=False)
    for _ in range(PER_MINUTE):
        call(client, "correct", [handle_file(str(pictures[1])), "default", "", "Bag", False])
    count = CorrectionStore(data).count()
    with pytest.raises(Exception) as info:
        call(client, "correct", [handle_file(str(pictures[1])), "default", "", "Bag", False])
    assert_our_message(info.value, "too many corrections", "try again in")
    assert CorrectionStore(data).count() == count
    call(Client(url, verbose=False), "correct", [handle_file(str(pictures[1])), "default", "", "Bag", False])


def test_on_a_space_the_corrections_are_pushed_to_a_hub_dataset_repo(fashion_demo, pictures, tmp_path: Path) -> None:
    with HubStub() as stub:
        env = stub.client_env(tmp_path / "hf_home", token="hf_stub") | {
            "HF_HUB_OFFLINE": "0",
            "XAI_DATA_DIR": str(tmp_path / "data"),
            "XAI_CORRECTIONS_REPO": "acme/corrections",
            "XAI_CORRECTIONS_EVERY": "0.02",  # minutes: a push every 1.2 s
        }
        with running_app(env=env, args=["--model", str(fashion_demo.model_dir)]) as url:
            client = Client(url, verbose=False)
            kept = call(client, "correct", [handle_file(str(pictures[2])), "default", "", "Coat", True])[1]
            hashed = call(client, "correct", [handle_file(str(pictures[3])), "default", "", "Bag", False])[1]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                files = stub.files("acme/corrections", repo_type="dataset")
                if any(name.startswith("fingerprints/") for name in files) and any(kept["id"] in n for n in files):
                    break
                time.sleep(0.5)
    images = {name: data for name, data in files.items() if name.startswith("records/") and name.endswith(".png")}
    assert list(images.values()) == [pictures[2].read_bytes()] and kept["id"] in next(iter(images))
    fingerprints = [
        json.loads(line) for n, d in files.items() if n.startswith("fingerprints/") for line in d.splitlines()
    ]
    assert [row["id"] for row in fingerprints] == [hashed["id"]] and fingerprints[0]["image_sha256"] == sha256(
        pictures[3]
    )


def test_the_owner_status_is_on_the_page_but_never_an_endpoint(served) -> None:
    url, _ = served
    client = Client(url, verbose=False)
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert "/correct" in endpoints and not any("owner" in e or "status" in e for e in endpoints)
    labels = {i18n.english(c.get("props", {}).get("label")) for c in client.config["components"]}
    assert "Owner: corrections and fine-tunes" in labels


def test_without_the_owner_flag_the_page_has_no_owner_status() -> None:
    corrections.set_owner(False)
    labels = {i18n.english(c.get("props", {}).get("label")) for c in app.build_demo().get_config_file()["components"]}
    assert "Correct this prediction" in labels and "Owner: corrections and fine-tunes" not in labels


def test_the_owner_status_counts_pending_corrections_and_shows_the_last_fine_tune(tmp_path: Path) -> None:
    store = CorrectionStore(tmp_path)
    corrections.use_intake(Intake(store))
    try:
        assert "**0** corrections pending" in corrections.on_owner_status()
        figures = {
            "corrections": 3,
            "seconds": 12.0,
            "evaluation": {"corrections": {"n": 3, "metric": "accuracy", "before": 0.0, "after": 1.0}},
        }
        store.record_finetune("acme/fashion", "b" * 40, figures, [])
        status = corrections.on_owner_status()
        assert (
            "`acme/fashion` -> revision `" + "b" * 40 in status
            and "| corrections | 3 | accuracy | 0.000 | 1.000 |" in status
        )
    finally:
        corrections.use_intake(None)
