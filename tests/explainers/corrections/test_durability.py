"""The store under pressure: many writers and an export at once, and a writer killed with SIGKILL mid-stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from explainers.corrections import CorrectionStore, export
from explainers.corrections.store import Record, new_id, now

ROOT = Path(__file__).resolve().parents[3]

# A writer that stores records as fast as it can and prints each id once its transaction has committed.
WRITER = """
import sys
sys.path.insert(0, {root!r})
from explainers.corrections.store import CorrectionStore, Record, new_id, now
store = CorrectionStore({folder!r})
n = 0
while True:
    record = Record(new_id(), now(), "m", None, "w" * 64, "multiclass", {{"decision": "a"}},
                    {{"task": "multiclass", "text": "b", "label": "b"}}, "s" * 64, bytes(range(256)) * 64, "png", True)
    store.add(record)
    print(record.id, flush=True)
"""


def record(i: int, image: bytes | None = b"\x89PNG fake") -> Record:
    answer = {"task": "multiclass", "text": f"class {i}", "label": f"class {i}"}
    return Record(
        new_id(), now(), "m", None, "w" * 64, "multiclass", {"decision": "x"}, answer, "s" * 64, image, "png", True
    )


def test_concurrent_writers_and_an_export_store_every_record_once(tmp_path: Path) -> None:
    store = CorrectionStore(tmp_path / "data")
    made: list[Record] = []
    lock = threading.Lock()

    def write(worker: int) -> None:
        for i in range(25):
            r = store.add(record(worker * 100 + i))
            with lock:
                made.append(r)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(32)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while not made:  # the export runs while writers write, not before the first record exists ("nothing to export")
        assert time.monotonic() < deadline, "no writer stored a record within 60 s"
        time.sleep(0.01)
    exported = export(CorrectionStore(tmp_path / "data"), tmp_path / "export")  # a second handle, as the CLI has
    for t in threads:
        t.join()
    stored = {r.id: r for r in store.records()}
    assert len(made) == 800 and set(stored) == {r.id for r in made}
    assert all(stored[r.id].answer == r.answer for r in made)  # nothing mixed between records
    assert set(exported.ids) <= set(stored) and len(set(exported.ids)) == len(exported.ids)
    lines = (tmp_path / "export" / "metadata.jsonl").read_text().splitlines()
    assert len(lines) == len(exported.ids)


def test_a_writer_killed_mid_write_loses_at_most_the_record_in_flight(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER.format(root=str(ROOT), folder=str(folder))],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.stdout is not None
    committed = []
    deadline = time.monotonic() + 60
    while len(committed) < 300 and time.monotonic() < deadline:
        committed.append(proc.stdout.readline().strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    committed += [line.strip() for line in proc.stdout.read().splitlines()]  # printed before the kill
    store = CorrectionStore(folder)
    assert store.integrity() == "ok"
    stored = {r.id for r in store.records(with_images=False)}
    assert len(committed) >= 300
    assert set(committed) <= stored  # every committed record survived
    assert len(stored - set(committed)) <= 1  # at most the one whose print the kill cut off
    store.add(record(0))  # and the store takes writes again
