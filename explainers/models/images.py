"""Uploads (path, bytes, PIL image or array) -> one decoded, size-checked, 8-bit RGB PIL image."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import math
import os
import re
import struct
from collections.abc import Iterator
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError

__all__ = [
    "MAX_PIXELS",
    "MAX_UPLOAD_BYTES",
    "MIN_SIDE",
    "READABLE_FORMATS",
    "ImageSource",
    "image_sha256",
    "load_image",
]

# Above any photo a user means to explain (a 12 MP phone JPEG is 2-8 MB), and small enough that reading a whole
# upload into memory is harmless.
MAX_UPLOAD_BYTES: int = 25 * 1024 * 1024
# Checked from the header, before any pixel is decoded. 40 MP is 7740x5160 at 3:2, above any camera but the 48-200 MP
# phone modes; decoding one costs ~300-450 MB at peak, and the model only ever sees ~224-518 px, so anything larger is
# refused rather than decoded (decompression bombs declare e.g. 30000x30000 in a file of a few kB). Pillow's own limit
# (Image.MAX_IMAGE_PIXELS, 89 MP) is global, so it is left alone and this one is checked per call.
MAX_PIXELS: int = 40_000_000
# Below this the image is an upscaled flat patch once the model's preprocessing resizes it, and any explanation of it
# is meaningless; 1x1 and 2x1000 uploads are refused.
MIN_SIDE: int = 16

ImageSource: TypeAlias = str | os.PathLike[str] | bytes | bytearray | Image.Image | npt.NDArray[np.generic]

# Formats a user plausibly uploads. Pillow would also try EPS (which runs Ghostscript), PSD, SGI, FITS and two dozen
# more rarely exercised decoders on any file whose first bytes fit; refusing them keeps that attack surface closed.
# PNG covers APNG; JPEG covers MPO (multi-picture phone JPEGs); WEBP covers animated WebP.
READABLE_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "ICO", "PPM")

_MB = 1024 * 1024
# What Pillow raises on bytes it cannot decode (its own fuzzing harness treats these as expected), plus the
# struct/EOF/index errors some plugins let through on malformed headers, and RuntimeError, which the AVIF plugin
# raises for damaged files ("Failed to decode frame 0: ...").
_DECODE_ERRORS = (
    OSError,
    RuntimeError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    NotImplementedError,
    MemoryError,
)
_HIGH_DEPTH_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_OPAQUE_MODES = frozenset({"1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"})
_EXPORT_HINT = "export it as PNG or JPEG and upload that"


def load_image(source: ImageSource | None) -> Image.Image:
    """Decodes an upload into a new 8-bit RGB image, refusing anything unsafe or unusable.

    Files are size-checked before they are read and pixel-checked from the header before they are decoded, then decoded
    fully, so truncated files fail here rather than inside a model. Only READABLE_FORMATS are tried. EXIF orientation is
    applied; animations give their first frame; transparency is composited on white; 16-bit, 32-bit integer and float
    images are scaled to 8 bits by their actual range (float images already within [0, 1] are scaled by 255); CMYK,
    YCbCr, LAB, 1-bit and palette images are converted. Nothing global is changed, so calls may run in parallel threads.

    Args:
        source: A file path, the file's bytes, a PIL image (decoded here if still lazy, used at its current frame, never
            modified) or an array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) with uint8, uint16, bool or float
            pixels, as Gradio hands them over. None, Gradio's value for "nothing uploaded", is refused.

    Returns:
        A new RGB image, fully loaded and holding no file handle.

    Raises:
        ImageError: The upload is empty, not an image, truncated or corrupt, larger than MAX_UPLOAD_BYTES, has more
            than MAX_PIXELS pixels or a side shorter than MIN_SIDE, or has a pixel format that cannot be shown.
        TypeError: The source is none of the accepted types (a programming error, not an upload problem).
    """
    if source is None:
        raise ImageError("no image was uploaded; choose an image file first")
    if isinstance(source, Image.Image):
        return _from_pil(source)
    if isinstance(source, np.ndarray):
        return _from_array(source)
    data = _read_upload(source)
    with (
        _refusing_undecodable(_sniff_format(data), data),
        Image.open(io.BytesIO(data), formats=_openable_formats()) as opened,
    ):
        _draft_large_jpeg(opened)
        return _to_safe_rgb(opened, owned=True)


def _draft_large_jpeg(image: Image.Image) -> None:
    """Let the JPEG decoder itself downscale by 2, 4 or 8 when a photo is over MAX_PIXELS (48 MP phone photos).

    The model sees ~224-518 px, so nothing it uses is lost; the decode is cheaper than a full-size one.
    """
    width, height = image.size
    if image.format != "JPEG" or width * height <= MAX_PIXELS:
        return
    for k in (2, 4, 8):
        if math.ceil(width / k) * math.ceil(height / k) <= MAX_PIXELS:
            image.draft("RGB", (math.ceil(width / k), math.ceil(height / k)))
            return


def image_sha256(source: ImageSource) -> str:
    """Fingerprints an upload for receipts.

    Paths and bytes are hashed as the original file bytes, without decoding them (call load_image to validate).
    PIL images and arrays have no file, so their loaded RGB pixels are hashed, after a "WIDTHxHEIGHT RGB" line so
    that images with the same bytes but different shapes differ.

    Args:
        source: Anything load_image accepts.

    Returns:
        The SHA-256 hex digest.

    Raises:
        ImageError: The file is empty or larger than MAX_UPLOAD_BYTES, or (for PIL images and arrays) load_image
            refuses it.
    """
    if isinstance(source, (Image.Image, np.ndarray)):
        rgb = load_image(source)
        digest = hashlib.sha256(f"{rgb.width}x{rgb.height} RGB\n".encode())
        digest.update(rgb.tobytes())
        return digest.hexdigest()
    return hashlib.sha256(_read_upload(source)).hexdigest()


def _read_upload(source: str | os.PathLike[str] | bytes | bytearray) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            with open(path, "rb") as file:
                # fstat first: a 10 GB upload (or /dev/zero) is refused without reading it.
                _check_file_size(os.fstat(file.fileno()).st_size)
                data = file.read(MAX_UPLOAD_BYTES + 1)
        except FileNotFoundError as exc:
            raise ImageError(f"no file at {path}; upload the image again") from exc
        except IsADirectoryError as exc:
            raise ImageError(f"{path} is a folder, not an image file; upload a single image") from exc
        except OSError as exc:
            raise ImageError(f"could not read {path} ({exc.strerror}); upload the image again") from exc
    else:
        raise TypeError(f"expected a path, bytes, PIL image or numpy array, got {type(source).__name__}")
    _check_file_size(len(data))
    return data


def _check_file_size(size: int) -> None:
    if size == 0:
        raise ImageError("the file is empty (0 bytes); upload the image again")
    if size > MAX_UPLOAD_BYTES:
        raise ImageError(
            f"the file is {size / _MB:.1f} MB; the limit is {MAX_UPLOAD_BYTES / _MB:.0f} MB; "
            "save a smaller JPEG or downscale the image"
        )


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"the image is {width}x{height} = {width * height / 1e6:.1f} million pixels; the limit is "
            f"{MAX_PIXELS / 1e6:.0f} million pixels; downscale it (4000 pixels on the long side is plenty)"
        )
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"the image is {width}x{height} pixels; upload at least {MIN_SIDE}x{MIN_SIDE}")


def _from_pil(image: Image.Image) -> Image.Image:
    with _refusing_undecodable(image.format or "image", None):
        return _to_safe_rgb(image, owned=False)


def _to_safe_rgb(image: Image.Image, *, owned: bool) -> Image.Image:
    """Decodes, turns upright and converts; owned images (opened here) are rotated in place to save a copy."""
    # The header is all that has been read so far: refuse oversized images before decoding a single pixel.
    _check_size(*image.size)
    image.load()
    if owned:
        ImageOps.exif_transpose(image, in_place=True)
        upright = image
    else:
        upright = ImageOps.exif_transpose(image)
    rgb = _to_rgb(upright)
    # Some formats (ICO, ICNS) only know their final size once loaded.
    _check_size(*rgb.size)
    return rgb


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _HIGH_DEPTH_MODES:
        gray = _scale_to_uint8(np.asarray(image))
        return Image.fromarray(gray).convert("RGB")
    if image.mode in ("La", "RGBa"):  # premultiplied; Pillow converts these only to their straight-alpha twin
        image = image.convert(image.mode[:-1] + "A")
    if image.mode in _ALPHA_MODES or (image.mode in _OPAQUE_MODES and image.has_transparency_data):
        return _on_white(image.convert("RGBA"))
    if image.mode in _OPAQUE_MODES:
        return image.convert("RGB")
    raise ImageError(f"images with {image.mode} pixels are not supported; {_EXPORT_HINT} (8-bit RGB or grayscale)")


def _on_white(rgba: Image.Image) -> Image.Image:
    # Pasting through the alpha band is alpha compositing onto opaque white, with one full-size buffer fewer than
    # Image.alpha_composite (which needs an RGBA background and an RGBA result): 40 MP uploads are 160 MB a copy.
    rgb = Image.new("RGB", rgba.size, (255, 255, 255))
    rgb.paste(rgba, (0, 0), rgba)
    return rgb


def _scale_to_uint8(values: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    """Maps pixel values linearly to 0..255: by their min and max, or by 255 for floats already within [0, 1].

    A 12-bit X-ray stored in 16 bits (0..4095) thus keeps its full contrast instead of coming out nearly black.
    """
    if values.dtype == np.bool_:
        return values.astype(np.uint8) * np.uint8(255)
    if values.dtype == np.uint8:
        return values.astype(np.uint8)
    if values.dtype.kind not in "uif":
        raise ImageError(
            f"expected uint8, uint16, bool or float pixels, got {values.dtype}; convert the array to uint8"
        )
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ImageError("the image has NaN or infinite pixel values; replace them and upload again")
    low, high = float(values.min()), float(values.max())
    if values.dtype.kind == "f" and low >= 0.0 and high <= 1.0:
        low, high = 0.0, 1.0
    if high == low:
        signed = values.dtype.kind == "i"
        nominal = 1.0 if values.dtype.kind == "f" else float(2 ** (8 * values.dtype.itemsize - signed) - 1)
        level = round(255 * min(max(low / nominal, 0.0), 1.0))
        return np.full(values.shape, level, dtype=np.uint8)
    # In place: at MAX_PIXELS each float32 temporary is 160 MB.
    scaled = values.astype(np.float32)
    scaled -= np.float32(low)
    scaled *= np.float32(255 / (high - low))
    np.clip(scaled, 0, 255, out=scaled)
    np.rint(scaled, out=scaled)
    return scaled.astype(np.uint8)


def _alpha_to_uint8(alpha: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    # Alpha is never stretched by its range: its scale is fixed by the dtype (1.0 for floats).
    if alpha.dtype == np.uint16:
        return np.rint(alpha.astype(np.float32) / 257).astype(np.uint8)
    if alpha.dtype.kind == "f":
        if not np.isfinite(alpha).all():
            raise ImageError("the alpha channel has NaN or infinite values; replace them and upload again")
        clipped: npt.NDArray[np.float32] = np.clip(alpha.astype(np.float32), 0, 1)
        return np.rint(clipped * 255).astype(np.uint8)
    return _scale_to_uint8(alpha)


def _from_array(array: npt.NDArray[np.generic]) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ImageError(
            f"expected an image array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {array.shape}"
        )
    if array.dtype not in (np.uint8, np.uint16, np.bool_) and array.dtype.kind != "f":
        raise ImageError(f"expected uint8, uint16, bool or float pixels, got {array.dtype}; convert the array to uint8")
    height, width = array.shape[:2]
    _check_size(width, height)
    if array.ndim == 3 and array.shape[2] == 4:
        colour = _scale_to_uint8(array[:, :, :3])
        alpha = _alpha_to_uint8(array[:, :, 3])
        rgba = np.ascontiguousarray(np.dstack([colour, alpha]))
        return _on_white(Image.fromarray(rgba))
    return Image.fromarray(np.ascontiguousarray(_scale_to_uint8(array))).convert("RGB")


@contextlib.contextmanager
def _refusing_undecodable(kind: str, data: bytes | None) -> Iterator[None]:
    """Turns whatever Pillow raises on bad bytes into an ImageError that says what was wrong."""
    try:
        yield
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError(_not_an_image(data or b"")) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own limit (2x MAX_IMAGE_PIXELS for the error; the warning, above 1x, only when warnings are
        # errors) fires inside Image.open, before this module sees the size; its message carries the pixel count.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)) / 1e6:,.0f} million pixels" if found else "too many pixels"
        raise ImageError(
            f"the image declares {size}; the limit is {MAX_PIXELS / 1e6:.0f} million pixels; "
            "downscale it (4000 pixels on the long side is plenty)"
        ) from exc
    except _DECODE_ERRORS as exc:
        raise ImageError(_broken(kind, exc)) from exc


def _broken(kind: str, exc: BaseException) -> str:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, MemoryError):
        return f"decoding this {kind} file needed more memory than the server has; upload a smaller image"
    if "truncated" in detail:
        return f"the {kind} file is truncated (it ends before the image data does); upload the complete file"
    if "Decompressed data too large" in detail or "Too much memory used in text chunks" in detail:
        return (
            f"the {kind} file's text metadata decompresses to more than the safety limit (a decompression bomb); "
            "re-save the image without metadata"
        )
    return f"the {kind} file is corrupt ({detail}); {_EXPORT_HINT}"


@functools.cache
def _openable_formats() -> tuple[str, ...]:
    # Pillow builds without libavif (or before 11.2) have no AVIF opener, and Image.open raises KeyError for it.
    Image.init()
    return tuple(name for name in READABLE_FORMATS if name in Image.OPEN)


def _sniff_format(data: bytes) -> str:
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "AVIF"
    return "image"


def _not_an_image(data: bytes) -> str:
    """Names what an unreadable upload looks like, when its first bytes make that cheap to tell."""
    head = data[:2048]
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    kind = _sniff_format(data)
    if kind != "image":
        return f"the file starts like a {kind} image but its header is corrupt; {_EXPORT_HINT}"
    if text.startswith(b"%!ps"):
        return f"not an image: the file looks like a PostScript/EPS figure; {_EXPORT_HINT}"
    if text.startswith(b"%pdf"):
        return f"not an image: the file looks like a PDF document; {_EXPORT_HINT}"
    if b"<svg" in text:
        return f"not an image: the file looks like an SVG (vector) drawing; {_EXPORT_HINT}"
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text:
        return (
            "not an image: the file looks like an HTML web page (perhaps the page around the image was saved); "
            "open the image on its own, save it, and upload that file"
        )
    if head.startswith(b"PK\x03\x04"):
        return "not an image: the file looks like a ZIP archive (or a .docx/.xlsx/.pptx); extract the image first"
    if head[4:8] == b"ftyp":
        if head[8:12] in _HEIF_BRANDS:
            return (
                "the file looks like a HEIC/HEIF photo (the iPhone default), which this server cannot decode; "
                f"{_EXPORT_HINT}"
            )
        return "not an image: the file looks like a video (MP4/MOV); take a screenshot of a frame instead"
    if head[128:132] == b"DICM":
        return f"not an image: the file looks like a DICOM scan; {_EXPORT_HINT} (e.g. from your DICOM viewer)"
    if head.startswith(b"\x1f\x8b"):
        return "not an image: the file looks like a gzip archive; extract the image first"
    if _looks_like_text(head):
        return f"not an image: the file looks like text; {_EXPORT_HINT}"
    return f"not an image format this server can read; upload one of: {', '.join(READABLE_FORMATS)}"


def _looks_like_text(head: bytes) -> bool:
    decoded = head.decode("utf-8", errors="replace")
    printable = sum((ch.isprintable() and ch != "\ufffd") or ch in "\t\r\n" for ch in decoded)
    return "\x00" not in decoded and printable >= 0.95 * len(decoded)
