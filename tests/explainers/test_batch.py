"""Collecting a batch's photos: files and zip members, bounded before anything is read, with names safe in a zip."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_app import CHELSEA, COFFEE, zip_of

from explainers import batch
from explainers.errors import OptionError


def test_files_and_zip_members_become_photos_in_order(tmp_path: Path) -> None:
    photos = zip_of(tmp_path / "p.zip", {"a/cat.jpg": CHELSEA.read_bytes(), "__MACOSX/a/._cat.jpg": b"x", "a/": b""})
    items = batch.collect([COFFEE, photos])
    assert [item.name for item in items] == ["coffee.jpg", "cat.jpg"]
    assert items[1].data == CHELSEA.read_bytes()


def test_repeated_and_odd_names_become_unique_safe_names(tmp_path: Path) -> None:
    photos = zip_of(tmp_path / "p.zip", {"x/coffee.jpg": b"1", "y/coffee.jpg": b"2", "z/..bad name?.png": b"3"})
    names = [item.name for item in batch.collect([COFFEE, photos])]
    assert names == ["coffee.jpg", "2-coffee.jpg", "3-coffee.jpg", "bad_name_.png"]


def test_no_photos_is_refused() -> None:
    with pytest.raises(OptionError, match="no photos"):
        batch.collect([])


def test_too_many_photos_are_refused_before_reading(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(batch, "MAX_IMAGES", 2)
    photos = zip_of(tmp_path / "p.zip", {f"{i}.jpg": b"x" for i in range(3)})
    with pytest.raises(OptionError, match="too many photos: at least 3, at most 2"):
        batch.collect([photos])


def test_a_zip_that_inflates_past_the_byte_bound_is_refused_from_its_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(batch, "MAX_BYTES", 1 << 20)
    bomb = zip_of(tmp_path / "bomb.zip", {"big.png": bytes(4 << 20)})
    assert bomb.stat().st_size < 64 << 10
    with pytest.raises(OptionError, match="at most 1 MB per batch"):
        batch.collect([bomb])


def test_a_file_that_is_not_a_zip_but_named_so_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "photos.zip"
    fake.write_bytes(b"not a zip")
    with pytest.raises(OptionError, match="not a readable zip"):
        batch.collect([fake])
