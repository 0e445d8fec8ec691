"""A model's reference gallery for similar cases, published beside its weights as gallery/ (upload_model --gallery)."""

from __future__ import annotations

import shutil
from pathlib import Path

from explainers.models.loading import load_model
from explainers.models.sources import parse_source
from explainers.similar.build import build_gallery, console_progress
from explainers.similar.layout import MANIFEST
from explainers.similar.store import load_gallery

GALLERY_DIR = "gallery"


def add_gallery(folder: str | Path, source: str | Path) -> Path:
    """Put a gallery for the folder's model into ``folder/gallery``, proved by the app's own gallery loader.

    Args:
        folder: a model folder built by build_folder (config.json + model.safetensors).
        source: a gallery already built for exactly these weights (its manifest.json, or a model folder holding
            gallery/), or labelled images to build one from: class sub-folders, a folder with a labels CSV/JSONL,
            or a .parquet file. Building draws a progress bar.

    Raises:
        GalleryError: the gallery was built for other weights, is damaged, or the images carry no usable labels.
    """
    folder, source = Path(folder), Path(source)
    model = load_model(parse_source(str(folder), allow_local=True), cache=False)
    out = folder / GALLERY_DIR
    built = next((p for p in (source, source / GALLERY_DIR) if (p / MANIFEST).is_file()), None)
    if built is not None:
        load_gallery(built, model, cache=False)  # refuses a gallery made for other weights before copying it
        shutil.copytree(built, out, dirs_exist_ok=False)
    else:
        with console_progress("gallery") as progress:
            build_gallery(model, source, out_dir=out, progress=progress)
    load_gallery(out, model, cache=False)
    return out


def gallery_files(folder: str | Path) -> list[str]:
    """Paths of the gallery's files relative to the model folder ("gallery/manifest.json", ...); empty without one."""
    root = Path(folder)
    gallery = root / GALLERY_DIR
    if not gallery.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix() for p in gallery.rglob("*") if p.is_file())
