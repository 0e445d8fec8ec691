"""What every benchmark shares: one thread, the default model on skimage's coffee photo, interleaved median timing.

Import it before torch: it sets OMP_NUM_THREADS=1 (unless already set) and puts the repository on sys.path.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# OpenMP reads this once, when torch loads it: it has to be set before the first `import torch` of the process.
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import skimage.data
import torch
from PIL import Image

from explainers.models.images import image_sha256
from explainers.models.loading import load_model
from explainers.models.preprocess import prepare_pil
from explainers.types import LoadedModel, PreparedImage

ROOT = Path(__file__).resolve().parents[1]


def pin_threads() -> int:
    """One torch thread, as STYLE.md asks of benchmarks (the CPU is shared; OpenMP stalls otherwise).

    Returns:
        torch's intra-op thread count afterwards.
    """
    torch.set_num_threads(1)
    return torch.get_num_threads()


def device_or_exit(name: str | None) -> torch.device | None:
    """The torch device a ``--device`` option names; None leaves the choice to load_model (cuda when available).

    Raises:
        SystemExit: cuda was asked for and this torch cannot see a GPU.
    """
    if name is None:
        return None
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            f"--device cuda: torch {torch.__version__} sees no CUDA GPU here (built for CUDA {torch.version.cuda}); "
            "run on a machine with one, or leave --device out to benchmark the CPU"
        )
    return torch.device(name)


def default_setup(device: torch.device | None = None) -> tuple[LoadedModel, PreparedImage]:
    """The built-in model and skimage's coffee photo prepared for it, fingerprinted as an upload of that photo."""
    loaded = load_model(None, device=device)
    picture = Image.fromarray(skimage.data.coffee())
    return loaded, prepare_pil(loaded, picture, sha256=image_sha256(picture))


def header(loaded: LoadedModel, prepared: PreparedImage, runs: int, *, warmup: int = 0, details: str = "") -> str:
    """One line naming the model, device, input, settings (``details``), threads and how times were taken."""
    after = f" after {warmup} warm-up round{'s' * (warmup > 1)}" if warmup else ""
    return (
        f"model: {loaded.architecture} on {loaded.device}, input {tuple(prepared.image.shape)}, "
        f"{details + ', ' if details else ''}torch threads: {torch.get_num_threads()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, median of {runs} interleaved runs{after}"
    )


def run(
    rows: Callable[[LoadedModel, PreparedImage], list[dict[str, Any]]],
    markdown: Callable[[list[dict[str, Any]]], str],
    *,
    runs: int,
    warmup: int = 0,
    details: str = "",
) -> None:
    """A benchmark script's main: one thread, the default setup, then its header and table on stdout."""
    pin_threads()
    loaded, prepared = default_setup()
    print(header(loaded, prepared, runs, warmup=warmup, details=details))
    print(markdown(rows(loaded, prepared)))


def median_seconds(fns: Sequence[Callable[[], Any]], *, runs: int, warmup: int = 0) -> tuple[list[float], list[Any]]:
    """Median wall time of each function over ``runs`` rounds after ``warmup`` unmeasured ones, and its last result.

    Rounds interleave the functions, so load from other processes on a shared CPU hits every case alike and the
    ratios stay meaningful even when absolute times drift. On CUDA the clock waits for queued kernels before and
    after each call, so asynchronous launches are not timed as free.
    """
    sync: Callable[[], None] = torch.cuda.synchronize if torch.cuda.is_initialized() else _nothing
    times: list[list[float]] = [[] for _ in fns]
    results: list[Any] = [None] * len(fns)
    for round_ in range(warmup + runs):
        for i, fn in enumerate(fns):
            sync()
            start = time.perf_counter()
            results[i] = fn()
            sync()
            if round_ >= warmup:
                times[i].append(time.perf_counter() - start)
    return [statistics.median(series) for series in times], results


def _nothing() -> None:
    pass


def table(header: str, rows: Sequence[Any], cells: Callable[[Any], Sequence[Any]] = list) -> str:
    """A markdown table: header "name | name | <name" ("<" = left-aligned; the first column always is), one row each."""
    columns = [c.strip() for c in header.split("|")]
    names = [c.lstrip("<") for c in columns]
    rule = ["---" if c.startswith("<") or i == 0 else "---:" for i, c in enumerate(columns)]
    lines = ["| " + " | ".join(names) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown (no /proc/cpuinfo)"
    names = [line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")]
    return names[0] if names else "unknown (no model name in /proc/cpuinfo)"


def git_state() -> str:
    """The commit benchmarked, and the tracked files changed since."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip()
    changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    paths = ", ".join(line[3:] for line in changed)
    return f"commit {commit}" + (f", with uncommitted changes to {paths}" if paths else "")


def load_text(avg: tuple[float, ...]) -> str:
    """A load average triple as "1.00, 2.00, 3.00"."""
    return ", ".join(f"{x:.2f}" for x in avg)
