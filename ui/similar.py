"""The Similar cases tab (/similar): the nearest reference images of a model's gallery, and the nearest unlike one."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import gradio as gr
import spaces

import explainers as xai
from explainers.errors import GalleryError
from explainers.models.loading import hub_folder
from explainers.models.predict import prepare
from explainers.options import parse_number
from explainers.similar.search import MAX_K, SimilarCases, similar
from explainers.similar.store import Gallery, load_gallery

from .common import CHEAP_CONCURRENCY, endpoint, model, require_image
from .components import Inputs

log = logging.getLogger(__name__)

DEFAULT_K = 8
HOW_TO_ADD = (
    "This model has no reference gallery, so there are no similar cases to show. Its owner can attach one: "
    "`python app.py --model FOLDER --gallery GALLERY_DIR`, or publish it with the model: "
    "`python upload_model.py ... --gallery IMAGE_FOLDER` (class sub-folders, or a labels CSV/JSONL)."
)

# weights sha256 -> the gallery attached to those weights (the app's startup model, or a model folder's gallery/)
_attached: dict[str, Gallery] = {}
_looked: set[tuple[Any, str | None]] = set()  # (source, commit) already searched for a gallery/ of its own
_lock = threading.Lock()


def attach(loaded: xai.LoadedModel, folder: str | Path) -> bool:
    """Attach the gallery in ``folder`` (or ``folder/gallery``) to a model; log why not and return False if refused."""
    try:
        gallery = load_gallery(folder, loaded)
    except GalleryError as exc:
        log.warning("no similar cases for %s: %s", loaded.model_id, exc)
        return False
    with _lock:
        _attached[loaded.weights_sha256] = gallery
    log.info("similar cases for %s: %d references from %s", loaded.model_id, gallery.count, folder)
    return True


def gallery_for(loaded: xai.LoadedModel) -> Gallery | None:
    """The gallery attached to this model's weights, or the one its local folder carries (loaded once), or None."""
    with _lock:
        found = _attached.get(loaded.weights_sha256)
    if found is None and (loaded.source, loaded.revision) not in _looked:
        # A local model folder or a Hub repo may carry its gallery/ (upload_model.py --gallery puts it there): looked
        # for once per source and commit, so a model without one costs one listing, not one per request.
        if loaded.source.kind == "local":
            folder: Path | None = Path(loaded.source.ref) / "gallery"
        else:
            folder = hub_folder(loaded, "gallery")
        with _lock:
            _looked.add((loaded.source, loaded.revision))
        if folder is not None and folder.is_dir():
            attach(loaded, folder)
        with _lock:
            found = _attached.get(loaded.weights_sha256)
    return found


@spaces.GPU(duration=30)
def _search(model_id: str, revision: str, image: Any, k: int) -> SimilarCases:
    loaded = model(model_id, revision)
    gallery = gallery_for(loaded)
    if gallery is None:
        raise GalleryError(HOW_TO_ADD)
    prepared, prediction = prepare(loaded, image)
    return similar(loaded, gallery, prepared, prediction, k=k)


@endpoint("similar")
def on_similar(image: Any, model_id: str, revision: str, k: float = DEFAULT_K) -> tuple[Any, str, dict[str, Any]]:
    """Similar cases: the k nearest reference images in the model's gallery and how their labels bear on the answer.

    Args:
        k: how many neighbours, 1 to 64.

    Returns:
        the neighbours as (thumbnail, caption) pairs, nearest first, the nearest unlike reference last
        a summary in words: the prediction, how many neighbours agree, the nearest reference labelled otherwise
        JSON: neighbours (id, label, similarity, thumbnail), agreement, nearest unlike, the gallery's sha256
    """
    count = parse_number(k, "k", integer=True)
    cases = _search(model_id, revision, require_image(image), int(count))
    items = [(n.thumbnail, f"{n.label} · {n.similarity:.2f}") for n in cases.neighbours]
    if cases.nearest_unlike is not None:
        unlike = cases.nearest_unlike
        items.append((unlike.thumbnail, f"nearest unlike: {unlike.label} · {unlike.similarity:.2f}"))
    return items, _summary(cases), cases.to_dict()


def _summary(cases: SimilarCases) -> str:
    lines = [f"**{cases.prediction}** · {cases.sentence}"]
    if cases.votes:
        lines.append("Neighbours' labels: " + ", ".join(f"{name} ({n})" for name, n in cases.votes))
    if cases.nearest_unlike is not None:
        n = cases.nearest_unlike
        lines.append(f"The closest reference labelled otherwise is **{n.label}** (similarity {n.similarity:.2f}).")
    lines.append(f"<sub>gallery sha256 `{cases.gallery_sha256[:12]}` · {cases.gallery_count} references</sub>")
    return "\n\n".join(lines)


def build(inputs: Inputs) -> None:
    """The Similar cases tab; without a gallery its button answers with how to add one."""
    with gr.Tab("Similar cases"):
        gr.Markdown(
            "The model's own embedding of the photo against a labelled reference gallery stored with the model: "
            "the nearest references, whether their labels agree with the answer, and the nearest one labelled "
            "otherwise. Models without a gallery say how to add one."
        )
        k = gr.Slider(1, MAX_K, value=DEFAULT_K, step=1, label="Neighbours (k)")
        run_button = gr.Button("Find similar cases", variant="primary")
        pictures = gr.Gallery(label="Nearest references", columns=4, height="auto", format="png")
        summary = gr.Markdown()
        result = gr.JSON(label="Similar cases", open=False)
    run_button.click(
        on_similar,
        [*inputs.upload, k],
        [pictures, summary, result],
        api_name="similar",
        concurrency_id="predict",
        concurrency_limit=CHEAP_CONCURRENCY,
    )
