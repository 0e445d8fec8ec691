"""Every awkward or hostile upload of tests/corpus.py, sent to the real server's /predict through gradio_client.

Readable files come back as a prediction; refused ones come back as our own message (the ImageError text, never
Gradio's bare "Error"); nothing hangs, nothing crashes the server, and a good photo still works afterwards.
"""

from __future__ import annotations

import re
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus import CASE_NAMES, Case, build_corpus
from gradio_client import Client
from helpers_app import COFFEE, assert_our_message, call, endpoint_args, unexpected_server_errors
from servers import ROOT, running_app

from explainers.models.images import MAX_PIXELS, MAX_UPLOAD_BYTES, MIN_SIDE

MB = 1024 * 1024
# Every corpus file is small or refused from its header; a decent server answers each in a second or two. Past this a
# request counts as hung (the default model on one CPU thread predicts in ~0.1 s).
UPLOAD_TIMEOUT = 60.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, Path]]:
    log = tmp_path_factory.mktemp("server") / "app.log"
    with running_app(log_path=log) as url:
        yield Client(url, verbose=False), log


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    return {case.name: case for case in build_corpus(tmp_path_factory.mktemp("corpus"))}


@pytest.fixture(scope="module")
def durations() -> dict[str, float]:
    return {}


def _predict(client: Client, path: Path) -> tuple[dict, str, dict]:
    return call(client, "predict", endpoint_args("predict", path), timeout=UPLOAD_TIMEOUT)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_corpus_upload_gets_a_prediction_or_our_message(
    name: str, server: tuple[Client, Path], corpus: dict[str, Case], durations: dict[str, float]
) -> None:
    client, _ = server
    case = corpus[name]
    start = time.perf_counter()
    if case.expect == "ok":
        label, decision, result = _predict(client, case.path)
        assert result["task"] == "multiclass" and result["decision"], result
        assert result["top"] and 0.0 <= result["top"][0]["probability"] <= 1.0, result
        assert label["label"] == result["top"][0]["name"]
        assert result["decision"] in decision
    else:
        with pytest.raises(Exception) as info:
            _predict(client, case.path)
        assert not isinstance(info.value, TimeoutError), f"{name}: no answer within {UPLOAD_TIMEOUT} s"
        if case.path.stat().st_size > MAX_UPLOAD_BYTES:  # refused at upload (launch max_file_size), before our decoder
            assert f"maximum file size of {MAX_UPLOAD_BYTES} bytes" in str(info.value), str(info.value)
        else:
            assert_our_message(info.value, case.expect_message or "")
    durations[name] = time.perf_counter() - start


def test_the_upload_limits_are_the_ones_the_readme_states() -> None:
    readme = (ROOT / "README.md").read_text()
    assert MAX_UPLOAD_BYTES == 25 * MB
    assert MAX_PIXELS == 40_000_000
    assert re.search(rf"\| upload size \| {MAX_UPLOAD_BYTES // MB} MB \|", readme)
    assert re.search(rf"\| image size \| {MAX_PIXELS // 1_000_000} megapixels", readme)


def test_an_upload_of_exactly_max_upload_bytes_is_accepted(server: tuple[Client, Path], tmp_path: Path) -> None:
    # A real PNG followed by zeros after IEND: decoders stop at IEND, so only the size check sees the padding.
    path = tmp_path / "at_limit.png"
    path.write_bytes(_coffee_png())
    with path.open("r+b") as file:
        file.truncate(MAX_UPLOAD_BYTES)
    assert path.stat().st_size == MAX_UPLOAD_BYTES
    _, _, result = _predict(server[0], path)
    assert result["decision"] == "espresso"


def test_an_upload_one_byte_over_max_upload_bytes_is_refused_with_the_limit(
    server: tuple[Client, Path], tmp_path: Path
) -> None:
    path = tmp_path / "over_limit.png"
    path.write_bytes(_coffee_png())
    with path.open("r+b") as file:
        file.truncate(MAX_UPLOAD_BYTES + 1)
    with pytest.raises(Exception) as info:
        _predict(server[0], path)
    # launch(max_file_size=MAX_UPLOAD_BYTES): gradio_client refuses it before sending (it reads the server's limit),
    # and the server answers 413 to anything larger, before storing or decoding it.
    assert re.search(rf"maximum (file|allowed) size of {MAX_UPLOAD_BYTES} bytes", str(info.value)), str(info.value)


def test_an_image_of_exactly_max_pixels_is_accepted(server: tuple[Client, Path], tmp_path: Path) -> None:
    width = 8_000
    height = MAX_PIXELS // width
    assert width * height == MAX_PIXELS
    path = tmp_path / "at_limit.png"
    path.write_bytes(_black_bilevel_png(width, height))
    _, _, result = _predict(server[0], path)
    assert result["top"], result


def test_an_image_one_row_over_max_pixels_is_refused_before_decoding(
    server: tuple[Client, Path], tmp_path: Path
) -> None:
    width = 8_000
    height = MAX_PIXELS // width + 1
    path = tmp_path / "over_limit.png"
    path.write_bytes(_black_bilevel_png(width, height))
    with pytest.raises(Exception) as info:
        _predict(server[0], path)
    assert_our_message(info.value, f"{width}x{height}", f"the limit is {MAX_PIXELS // 1_000_000} million pixels")


def test_an_image_narrower_than_min_side_is_refused(server: tuple[Client, Path], tmp_path: Path) -> None:
    path = tmp_path / "narrow.png"
    path.write_bytes(_black_bilevel_png(MIN_SIDE - 1, 64))
    with pytest.raises(Exception) as info:
        _predict(server[0], path)
    assert_our_message(info.value, f"at least {MIN_SIDE}x{MIN_SIDE}")


def test_the_server_survives_the_whole_corpus(server: tuple[Client, Path], durations: dict[str, float]) -> None:
    """Runs last in this module: the same server still predicts a good photo, and no handler crashed."""
    client, log = server
    _, _, result = _predict(client, COFFEE)
    assert result["decision"] == "espresso"
    crashes = unexpected_server_errors(log.read_text(errors="replace"))
    assert not crashes, f"exceptions other than gr.Error escaped a handler: {crashes}"
    if durations:
        slowest = max(durations, key=durations.__getitem__)
        print(
            f"\n{len(durations)} corpus uploads, {sum(durations.values()):.1f} s in all, slowest {slowest} "
            f"{durations[slowest]:.2f} s"
        )


def _coffee_png() -> bytes:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    with Image.open(COFFEE) as image:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def _black_bilevel_png(width: int, height: int) -> bytes:
    """A 1-bit all-black PNG written chunk by chunk: a few kB even at 40 million pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_the_server_itself_refuses_an_oversized_upload_before_storing_it(tmp_path: Path) -> None:
    import httpx

    with running_app() as url:
        payload = b"\0" * (MAX_UPLOAD_BYTES + 1)
        answer = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.png", payload, "image/png")}, timeout=60)
    assert answer.status_code == 413
    assert f"maximum allowed size of {MAX_UPLOAD_BYTES} bytes" in answer.text
