"""Taking a correction in: check the answer and the image, keep the image only with consent, store it, mirror it."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import CorrectionError
from ..models.images import image_sha256, load_image
from ..models.predict import prepare
from ..types import LoadedModel, Prediction
from .answers import parse_answer
from .hub import HubMirror
from .limits import RateLimiter
from .store import CorrectionStore, Record, new_id, now

log = logging.getLogger(__name__)

# Kept as uploaded when it is one of these and no larger than MAX_KEPT_BYTES; otherwise re-encoded (see kept_image).
KEPT_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
MAX_KEPT_BYTES = 8 * 1024 * 1024
MAX_KEPT_SIDE = 2048  # re-encoded images are shrunk to this long side: far above any model input
PER_MINUTE = int(os.environ.get("XAI_CORRECTIONS_PER_MINUTE", "30"))


def data_dir() -> Path:
    """The app's data folder: XAI_DATA_DIR, else ~/.local/share/timm-xai (on a Space, point it at /data)."""
    return Path(os.environ.get("XAI_DATA_DIR") or Path.home() / ".local" / "share" / "timm-xai").expanduser()


def kept_image(source: Any) -> tuple[bytes, str]:
    """The bytes to keep for a consented upload and their file suffix.

    PNG, JPEG and WebP files up to MAX_KEPT_BYTES are kept byte for byte (their sha256 stays the upload's); anything
    else (GIF, TIFF, a 20 MB photo, a picture given as an array) is kept as the decoded RGB picture, shrunk to
    MAX_KEPT_SIDE, as PNG, or as JPEG when the PNG would still be over the limit.

    Raises:
        ImageError: the upload is not a usable image.
    """
    picture = load_image(source)
    if isinstance(source, (str, os.PathLike, bytes, bytearray)):
        data = bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
        with Image.open(io.BytesIO(data)) as opened:  # load_image has vetted these bytes
            kind = opened.format or ""
        if kind in KEPT_FORMATS and len(data) <= MAX_KEPT_BYTES:
            return data, KEPT_FORMATS[kind]
    picture.thumbnail((MAX_KEPT_SIDE, MAX_KEPT_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False)
    if buffer.tell() > MAX_KEPT_BYTES:
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=90)
        return buffer.getvalue(), "jpg"
    return buffer.getvalue(), "png"


PredictionSource = Prediction | Callable[[], Prediction] | None


def make_record(
    model: LoadedModel, image: Any, answer: Any, *, consent: Any, prediction: PredictionSource = None
) -> Record:
    """A correction of the model's prediction for an image, checked, not yet stored.

    Args:
        model: the model that made the prediction.
        image: the upload (a path or bytes; PIL images and arrays are kept re-encoded).
        answer: the visitor's text, read by answers.parse_answer for this model's task.
        consent: True keeps the image bytes; False keeps only their sha256.
        prediction: the model's prediction for the image, or a function that makes it (called once the answer is
            known to be valid, so bad answers cost no forward pass); made here with models.predict when not given.

    Raises:
        CorrectionError: no image, an answer the task does not allow, consent that is not True or False.
        ImageError: the upload is not a usable image.
    """
    if image is None or (isinstance(image, (str, bytes)) and not image):
        raise CorrectionError("no image was given: upload the picture the model got wrong, then say what it shows")
    parsed = parse_answer(model.task, answer)
    if not isinstance(consent, bool):
        raise CorrectionError(f"consent must be true or false, got {consent!r}")
    if prediction is None:
        _, prediction = prepare(model, image)
    elif callable(prediction):
        prediction = prediction()
    kept, ext = kept_image(image) if consent else (None, None)
    if not consent:
        load_image(image)  # an image that cannot be read is refused with or without consent
    return Record(
        id=new_id(),
        created=now(),
        model_id=model.model_id,
        revision=model.revision,
        weights_sha256=model.weights_sha256,
        task=model.task.kind,
        prediction=prediction.to_dict(),
        answer=parsed.to_dict(),
        image_sha256=image_sha256(image),
        image=kept,
        image_ext=ext,
        consent=consent,
    )


@dataclass
class Intake:
    """Where corrections go: the store, its Hub mirror when one is set up, behind a per-visitor rate limit."""

    store: CorrectionStore
    mirror: HubMirror | None = None
    limiter: RateLimiter | None = None

    def submit(
        self,
        model: LoadedModel,
        image: Any,
        answer: Any,
        *,
        consent: Any,
        visitor: str,
        prediction: PredictionSource = None,
    ) -> Record:
        """Check a correction and store it (in one transaction), then hand it to the mirror.

        Every attempt counts against the visitor's limit, refused ones too, so floods of bad input are limited as well.

        Raises:
            BusyError: the visitor is over the rate limit.
            CorrectionError, ImageError: see make_record; nothing is stored.
        """
        if self.limiter is not None:
            self.limiter.check(visitor)
        record = self.store.add(make_record(model, image, answer, consent=consent, prediction=prediction))
        if self.mirror is not None:
            try:
                self.mirror.add(record)
            except OSError:
                # The record is safe in the store (the export reads it from there); failing the visitor now would
                # only invite a retry, and so a duplicate.
                log.exception("could not mirror correction %s for the Hub", record.id)
        return record


def open_intake(folder: str | os.PathLike[str] | None = None, *, repo_id: str | None = None) -> Intake:
    """The app's intake: the store in ``folder`` (data_dir()), mirrored to ``repo_id`` (XAI_CORRECTIONS_REPO) if set."""
    folder = Path(folder) if folder is not None else data_dir()
    repo_id = repo_id if repo_id is not None else os.environ.get("XAI_CORRECTIONS_REPO") or None
    every = float(os.environ.get("XAI_CORRECTIONS_EVERY", "5"))
    mirror = HubMirror(repo_id, folder / "hub", every=every) if repo_id else None
    return Intake(CorrectionStore(folder), mirror, RateLimiter(PER_MINUTE, 60.0))
