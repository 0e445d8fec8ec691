"""Opt-in automatic retraining (XAI_RETRAIN_AFTER=N): once N new corrections of the serving model exist, fine-tune
it in the background and offer the result as a candidate that only the owner can put into service.

The job is `finetune.py export --pending` then `finetune.py train`, each a subprocess at nice 19: a crash or kill -9
of the job never touches the app, and the app's requests keep the CPU first. Everything is written under
<data>/retrain/work/<job>/; only a finished, verified folder (train proves it through the app's loader) is renamed
into <data>/retrain/candidates/<job>/, so a failed or killed run leaves no half-written model. The serving model
changes only through accept(). The state (new-correction baseline, running job, last result, served candidate) is
one JSON file, replaced atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from explainers.corrections import CorrectionStore
from explainers.corrections.store import new_id, now
from explainers.errors import CorrectionError, OptionError

FINETUNE = Path(__file__).resolve().parents[1] / "finetune.py"
FOLDER, STATE = "retrain", "state.json"
NICE = 19  # the lowest CPU priority: the job only gets what requests leave
REASON_CHARS = 600


@dataclass(frozen=True)
class Settings:
    """When and how the app retrains by itself.

    Attributes:
        after: start once this many new corrections of the serving model exist (0: never).
        original: the original training data for `finetune.py train --original` (against forgetting, and the
            held-aside before/after figures); None trains on the corrections alone.
        train_args: more `finetune.py train` options (the schedule: --head-epochs, --correction-weight, ...).
    """

    after: int = 0
    original: str | None = None
    train_args: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, after: int | None = None) -> Settings:
        """XAI_RETRAIN_AFTER (unless ``after`` is given), XAI_RETRAIN_ORIGINAL and XAI_RETRAIN_ARGS (shell words)."""
        raw = os.environ.get("XAI_RETRAIN_AFTER", "0") if after is None else after
        try:
            count = int(raw or 0)
        except ValueError:
            raise OptionError(f"XAI_RETRAIN_AFTER must be a whole number of corrections, got {raw!r}") from None
        if count < 0:
            raise OptionError(f"XAI_RETRAIN_AFTER must be 0 (off) or more, got {count}")
        original = os.environ.get("XAI_RETRAIN_ORIGINAL") or None
        return cls(count, original, tuple(shlex.split(os.environ.get("XAI_RETRAIN_ARGS", ""))))


class _Failed(Exception):
    """A step of the job failed; the message says which and why."""


class Retrainer:
    """The background fine-tune of one data folder's store: when to start, the job, its state and its candidates."""

    def __init__(self, store: CorrectionStore, settings: Settings, *, command: Sequence[str] | None = None) -> None:
        """Use ``store``'s folder; a job left running by a stopped app is recorded as interrupted, its work removed.

        Args:
            store: the app's corrections.
            settings: when and how to retrain.
            command: the finetune.py command line to run (default: this Python and the project's finetune.py).
        """
        self.store, self.settings = store, settings
        self.folder = store.folder / FOLDER
        self.command = tuple(command or (sys.executable, str(FINETUNE)))
        self._lock = threading.Lock()  # one job at a time, and one writer of the state file
        self._job: dict[str, Any] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._idle = threading.Event()
        self._idle.set()
        with self._lock:
            state = self._read()
            if state.get("job"):
                job = state["job"]
                _stop_orphan(job.get("pid"), self.folder / "work" / job["id"])
                reason = f"interrupted: the app stopped during its {job.get('step', 'start')} step"
                self._write(job=None, last=_result(job, "failed", reason=reason))
            shutil.rmtree(self.folder / "work", ignore_errors=True)

    # The state file ------------------------------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        path = self.folder / STATE
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def _write(self, **changes: Any) -> dict[str, Any]:
        """Change some fields of the state; the file is replaced whole (never seen half-written). Hold _lock."""
        state = self._read() | changes
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=".state-", dir=self.folder)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(state, out, indent=2)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.folder / STATE)
        return state

    def status(self, model_id: str | None = None) -> dict[str, Any]:
        """What the owner sees: settings, new corrections (of ``model_id``), the running job, last result, served.

        The running job carries ``output``, the last line its step printed (the fine-tune's progress bar).
        """
        with self._lock:
            state = self._read()
        pending = self.store.count(pending_only=True, model_id=model_id)
        job = state.get("job")
        if job:
            job = job | {"output": _last_line(self.folder / "work" / job["id"] / "log.txt")}
        return {
            "after": self.settings.after,
            "new": max(0, pending - int(state.get("baseline", 0))),
            "pending": pending,
            "job": job,
            "last": state.get("last"),
            "served": state.get("served"),
        }

    # The job -------------------------------------------------------------------------------------------------------

    def after_correction(self, source: str, model_id: str) -> str | None:
        """Retrain when N new corrections of the serving model exist and no job runs; returns the job id, else None.

        Runs the whole job in the calling thread: call it from a background thread, never a request's.

        Args:
            source: the serving model as `finetune.py train --model` takes it (a folder, owner/name@rev, default).
            model_id: its id in the store's records (LoadedModel.model_id).
        """
        if self.settings.after <= 0:
            return None
        with self._lock:
            pending = self.store.count(pending_only=True, model_id=model_id)
            if self._job is not None or pending - int(self._read().get("baseline", 0)) < self.settings.after:
                return None
            job = {"id": new_id()[:12], "started": now(), "source": source, "model_id": model_id, "pending": pending}
            self._job = job
            self._idle.clear()
            self._write(job=job | {"step": "start"})
        try:
            self._run(job)
        finally:
            with self._lock:
                self._job = None
                self._idle.set()
        return str(job["id"])

    def stop(self) -> None:
        """Kill the running step, if any (at the app's exit); the job then records the signal as its failure."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job runs in this process (True), or ``timeout`` seconds pass (False)."""
        return self._idle.wait(timeout)

    def _run(self, job: dict[str, Any]) -> None:
        work = self.folder / "work" / job["id"]
        work.mkdir(parents=True)
        log, export, out = work / "log.txt", work / "export", work / "out"
        data = str(self.store.folder)
        last = _result(job, "failed", reason="the job stopped on an unexpected error; the app's log has it")
        try:
            pending = ["--model", job["model_id"], "--pending"]
            self._step(job, "export", ["export", "--out", str(export), "--data-dir", data, *pending], log)
            original = ["--original", self.settings.original] if self.settings.original else []
            train = ["train", "--model", job["source"], "--corrections", str(export), "--out", str(out)]
            self._step(job, "train", [*train, *original, "--data-dir", data, *self.settings.train_args], log)
            report = json.loads((out / "report.json").read_text(encoding="utf-8"))
            if not (out / "model" / "model.safetensors").is_file():
                raise _Failed(f"train wrote no model.safetensors in {out / 'model'}")
            shutil.copyfile(log, out / "log.txt")
            candidate = self.folder / "candidates" / job["id"]
            candidate.parent.mkdir(parents=True, exist_ok=True)
            os.rename(out, candidate)  # atomic on one file system: the candidate appears whole or not at all
            last = _result(job, "ok", candidate=job["id"], folder=str(candidate / "model"), report=report)
        except (_Failed, OSError, ValueError) as exc:  # recorded as the run's result and shown to the owner
            last = _result(job, "failed", reason=str(exc)[-REASON_CHARS:] or type(exc).__name__)
        finally:  # also when something unexpected propagates (to the thread's log): the state never says "running"
            shutil.rmtree(work, ignore_errors=True)
            # Corrections train used are no longer pending; those left (no image, another task) wait for N new ones.
            left = self.store.count(pending_only=True, model_id=job["model_id"])
            with self._lock:
                self._write(job=None, last=last, baseline=left)

    def _step(self, job: dict[str, Any], step: str, args: list[str], log: Path) -> None:
        nice = ["nice", "-n", str(NICE)] if shutil.which("nice") else []
        with log.open("ab") as output:
            output.write(f"$ finetune.py {shlex.join(args)}\n".encode())
            output.flush()
            proc = subprocess.Popen(
                [*nice, *self.command, *args], stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
            )
            if not nice:
                os.setpriority(os.PRIO_PROCESS, proc.pid, NICE)
            with self._lock:
                self._proc = proc
                self._write(job=job | {"step": step, "pid": proc.pid, "step_started": now()})
            code = proc.wait()
            with self._lock:
                self._proc = None
        if code < 0:
            raise _Failed(f"{step} was killed by {signal.Signals(-code).name}")
        if code:
            raise _Failed(f"{step} exited with status {code}: {_error_line(log)}")

    # The candidates ------------------------------------------------------------------------------------------------

    def candidate(self, candidate_id: str) -> Path:
        """The model folder of a finished candidate.

        Raises:
            CorrectionError: there is no finished candidate by that id.
        """
        folder = self.folder / "candidates" / Path(candidate_id).name / "model"
        if not candidate_id or not (folder / "model.safetensors").is_file():
            raise CorrectionError(f"no finished candidate {candidate_id!r} in {folder.parent.parent}; press Refresh")
        return folder

    def accept(self, candidate_id: str, startup: str) -> Path:
        """Record that the owner serves this candidate instead of ``startup`` (what app.py was started with).

        Raises:
            CorrectionError: there is no finished candidate by that id.
        """
        folder = self.candidate(candidate_id)
        with self._lock:
            self._write(
                served={"candidate": candidate_id, "folder": str(folder), "accepted": now(), "startup": startup}
            )
        return folder


def served_candidate(data: str | os.PathLike[str], startup: str) -> Path | None:
    """The candidate the owner chose to serve instead of ``startup`` (what app.py starts with), if it still does.

    Reads <data>/retrain/state.json only (no store is opened): None when there is none, when the owner accepted it
    for another startup model, or when its folder is gone.
    """
    path = Path(data).expanduser() / FOLDER / STATE
    served = json.loads(path.read_text(encoding="utf-8")).get("served") if path.is_file() else None
    if not served or served.get("startup") != startup:
        return None
    folder = Path(served["folder"])
    return folder if (folder / "model.safetensors").is_file() else None


def _result(job: dict[str, Any], status: str, **fields: Any) -> dict[str, Any]:
    started, finished = job.get("started") or now(), now()
    seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    return {"job": job.get("id"), "status": status, "source": job.get("source"), **fields} | {
        "started": started,
        "finished": finished,
        "seconds": round(seconds, 1),
    }


def _stop_orphan(pid: Any, work: Path) -> None:
    """Kill a step that a stopped app left running: the process ``pid``, only if it still runs in ``work``.

    Its result would be thrown away, and train would mark the corrections it used as no longer new. Linux's /proc
    tells what the process runs; where there is none, or it has exited, there is nothing to do.
    """
    try:
        cmdline = Path(f"/proc/{int(pid)}/cmdline").read_bytes()
    except (OSError, TypeError, ValueError):
        return
    if str(work).encode() in cmdline:  # its --out is in this job's folder: not a new process that reused the pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def _lines(log: Path) -> list[str]:
    try:
        text = log.read_bytes()[-8192:].decode("utf-8", "replace")
    except OSError:
        return []
    return [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]


def _last_line(log: Path) -> str:
    lines = _lines(log)
    return lines[-1][-200:] if lines else ""


def _error_line(log: Path) -> str:
    """The CLI's own "error: ..." line when it printed one (finetune.py's refusals), else its last line."""
    lines = _lines(log)
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["(no output)"])[-1][-REASON_CHARS:]
