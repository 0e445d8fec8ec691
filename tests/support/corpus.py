"""A generated corpus of awkward and hostile uploads (no downloads), each with what load_image should make of it.

Everything is written with Pillow, numpy and the standard library in about a second; the whole corpus is ~5 MB on disk
(3 MB of it the oversized-metadata cases) plus one sparse file. Decompression bombs are hand-written PNG/GIF/JPEG
headers whose pixel data is a cheap, valid deflate stream of zeros, so they look real to a decoder but cost nothing to
make.
"""

from __future__ import annotations

import functools
import io
import pathlib
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image, PngImagePlugin, features

from explainers.models.images import MAX_UPLOAD_BYTES

PHOTO_SIZE = (192, 128)  # (width, height); chelsea and coffee are both 3:2
MARKER = (255, 0, 0)  # the block painted top-left on images whose orientation or frame is checked
MARKER_BOX = (0, 0, 48, 32)  # (left, upper, right, lower) of that block in the stored image
FRAME_COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255))  # marker colour per animation frame; frame 0 is red


@dataclass(frozen=True)
class Case:
    """One corpus file and what load_image must do with it.

    Attributes:
        name: Test id, snake_case.
        path: Where the file was written.
        expect: "ok" (loads to an RGB image) or "error" (raises ImageError).
        note: What the file is and why it is here.
        expect_size: For "ok": (width, height) after loading, e.g. swapped for an EXIF 90-degree rotation.
        expect_message: For "error": a word the ImageError message must contain (compared case-insensitively).
    """

    name: str
    path: pathlib.Path
    expect: Literal["ok", "error"]
    note: str
    expect_size: tuple[int, int] | None = None
    expect_message: str | None = None


@dataclass(frozen=True)
class _Spec:
    name: str
    filename: str
    expect: Literal["ok", "error"]
    note: str
    expect_size: tuple[int, int] | None
    expect_message: str | None
    write: Callable[[pathlib.Path], None]


_SPECS: dict[str, _Spec] = {}


def _ok(
    name: str, filename: str, note: str, size: tuple[int, int] = PHOTO_SIZE
) -> Callable[[Callable[[pathlib.Path], None]], Callable[[pathlib.Path], None]]:
    def register(write: Callable[[pathlib.Path], None]) -> Callable[[pathlib.Path], None]:
        _SPECS[name] = _Spec(name, filename, "ok", note, size, None, write)
        return write

    return register


def _error(
    name: str, filename: str, note: str, message: str
) -> Callable[[Callable[[pathlib.Path], None]], Callable[[pathlib.Path], None]]:
    def register(write: Callable[[pathlib.Path], None]) -> Callable[[pathlib.Path], None]:
        _SPECS[name] = _Spec(name, filename, "error", note, None, message, write)
        return write

    return register


def build_corpus(directory: pathlib.Path) -> list[Case]:
    """Writes every corpus file into directory (which must exist) and returns the cases in a fixed order."""
    cases = []
    for spec in _SPECS.values():
        path = directory / spec.filename
        spec.write(path)
        cases.append(Case(spec.name, path, spec.expect, spec.note, spec.expect_size, spec.expect_message))
    return cases


# ---------------------------------------------------------------------------------------------------------- sources


@functools.cache
def _photo_array() -> npt.NDArray[np.uint8]:
    try:
        from skimage import data

        photo = data.chelsea()
    except ImportError:  # a synthetic stand-in with texture in both directions
        y, x = np.mgrid[0:300, 0:450]
        photo = np.stack([x * 255 // 450, y * 255 // 300, (x + y) % 256], axis=-1).astype(np.uint8)
    return np.asarray(Image.fromarray(photo).resize(PHOTO_SIZE, Image.Resampling.LANCZOS))


def _photo() -> Image.Image:
    return Image.fromarray(_photo_array())


def _marked(colour: tuple[int, int, int] = MARKER) -> Image.Image:
    image = _photo()
    image.paste(colour, MARKER_BOX)
    return image


def _luminance() -> npt.NDArray[np.float64]:
    return np.asarray(_photo().convert("L"), dtype=np.float64) / 255


def _encode(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


@functools.cache
def _jpeg() -> bytes:
    return _encode(_photo(), "JPEG", quality=90)


@functools.cache
def _png() -> bytes:
    return _encode(_photo(), "PNG")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_from_chunks(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes, *extra: bytes) -> bytes:
    """A PNG written chunk by chunk: IHDR, the extra chunks, one IDAT, IEND."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + b"".join(extra) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def _zlib_zeros(count: int) -> bytes:
    """A valid zlib stream that inflates to count zero bytes, made in milliseconds whatever count is.

    After Z_FULL_FLUSH the compressor forgets its history and is byte-aligned, so every further block of zeros
    compresses to the same bytes: compress two blocks, repeat the second, and finish with the Adler-32 of count
    zeros, which is (count mod 65521) << 16 | 1.
    """
    block = 1 << 22
    if count < 2 * block:
        return zlib.compress(bytes(count), 9)
    compressor = zlib.compressobj(9)
    first = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    blocks, rest = divmod(count, block)
    tail = compressor.compress(bytes(rest)) + compressor.flush()
    return first + repeated * (blocks - 1) + tail[:-4] + struct.pack(">I", (count % 65521) << 16 | 1)


def _bilevel_png_of_zeros(width: int, height: int) -> bytes:
    """A 1-bit grayscale PNG of the given size, all black: a few kB per 100 million pixels."""
    row = 1 + (width + 7) // 8  # filter byte + packed bits
    return _png_from_chunks(width, height, 1, 0, _zlib_zeros(row * height))


def _noise(seed: int, count: int) -> bytes:
    return random.Random(seed).randbytes(count)


def _frames() -> list[Image.Image]:
    return [_marked(colour) for colour in FRAME_COLOURS]


# ---------------------------------------------------------------------------------------------- readable uploads


@_ok("photo_jpeg", "photo.jpg", "baseline JPEG of a real photo")
def _photo_jpeg(path: pathlib.Path) -> None:
    path.write_bytes(_jpeg())


@_ok("photo_png", "photo.png", "8-bit RGB PNG of a real photo")
def _photo_png(path: pathlib.Path) -> None:
    path.write_bytes(_png())


@_ok("progressive_jpeg", "progressive.jpg", "progressive JPEG with optimised Huffman tables")
def _progressive_jpeg(path: pathlib.Path) -> None:
    path.write_bytes(_encode(_photo(), "JPEG", progressive=True, optimize=True))


@_ok("grayscale_jpeg", "gray.jpg", "single-channel (L) JPEG")
def _grayscale_jpeg(path: pathlib.Path) -> None:
    path.write_bytes(_encode(_photo().convert("L"), "JPEG"))


@_ok("cmyk_jpeg", "cmyk.jpg", "CMYK JPEG (Adobe APP14 marker, inverted channels), as print workflows export")
def _cmyk_jpeg(path: pathlib.Path) -> None:
    path.write_bytes(_encode(_photo().convert("CMYK"), "JPEG"))


def _exif_jpeg(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    return _encode(_marked(), "JPEG", quality=95, exif=exif.tobytes())


@_ok("exif_rotate_90_jpeg", "exif6.jpg", "EXIF orientation 6 (phone held upright): shown rotated 90 cw", (128, 192))
def _exif_rotate_90_jpeg(path: pathlib.Path) -> None:
    path.write_bytes(_exif_jpeg(6))


@_ok("exif_rotate_180_jpeg", "exif3.jpg", "EXIF orientation 3 (upside down): shown rotated 180")
def _exif_rotate_180_jpeg(path: pathlib.Path) -> None:
    path.write_bytes(_exif_jpeg(3))


@_ok("exif_rotate_270_jpeg", "exif8.jpg", "EXIF orientation 8: shown rotated 90 ccw", (128, 192))
def _exif_rotate_270_jpeg(path: pathlib.Path) -> None:
    path.write_bytes(_exif_jpeg(8))


@_ok("garbage_exif_jpeg", "garbage_exif.jpg", "JPEG whose EXIF block is noise: the pixels are fine, so it loads")
def _garbage_exif_jpeg(path: pathlib.Path) -> None:
    path.write_bytes(_encode(_photo(), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08" + _noise(1, 600)))


@_ok("jpeg_named_png", "really_a_jpeg.png", "JPEG bytes behind a .png name: the extension is ignored")
def _jpeg_named_png(path: pathlib.Path) -> None:
    path.write_bytes(_jpeg())


@_ok("png_named_jpg", "really_a_png.jpg", "PNG bytes behind a .jpg name")
def _png_named_jpg(path: pathlib.Path) -> None:
    path.write_bytes(_png())


@_ok("gray16_png", "gray16.png", "16-bit grayscale PNG using the full 0..65535 range (opens as I;16)")
def _gray16_png(path: pathlib.Path) -> None:
    Image.fromarray((_luminance() * 65535).astype(np.uint16)).save(path)


@_ok("xray12_png", "xray12.png", "12-bit X-ray-like PNG: 0..4095 in 16 bits; naive conversion is black", (160, 200))
def _xray12_png(path: pathlib.Path) -> None:
    y, x = np.mgrid[0:200, 0:160]
    body = 400 + 1200 * y / 200  # soft-tissue gradient
    bone = ((x - 80) ** 2 / 40**2 + (y - 100) ** 2 / 70**2) < 1
    Image.fromarray(np.where(bone, 4095, body).astype(np.uint16)).save(path)


@_ok("rgb48_png", "rgb48.png", "16-bit-per-channel RGB PNG (hand-written chunks; Pillow cannot write these)")
def _rgb48_png(path: pathlib.Path) -> None:
    samples = _photo_array().astype(">u2") * 257
    rows = [b"\x00" + row.tobytes() for row in samples]
    path.write_bytes(_png_from_chunks(*PHOTO_SIZE, 16, 2, zlib.compress(b"".join(rows))))


@_ok("float32_tiff", "float32.tif", "32-bit float TIFF (mode F) with values in -1..3, as scientific data comes")
def _float32_tiff(path: pathlib.Path) -> None:
    Image.fromarray((_luminance() * 4 - 1).astype(np.float32)).save(path)


@_ok("int32_tiff", "int32.tif", "32-bit signed integer TIFF (mode I) with values in -50000..200000")
def _int32_tiff(path: pathlib.Path) -> None:
    Image.fromarray((_luminance() * 250_000 - 50_000).astype(np.int32)).save(path)


@_ok("palette_png", "palette.png", "8-bit palette (P) PNG, 64 colours")
def _palette_png(path: pathlib.Path) -> None:
    _photo().quantize(64).save(path)


@_ok("palette_transparency_png", "palette_trns.png", "palette PNG whose index 0 is transparent (tRNS chunk)")
def _palette_transparency_png(path: pathlib.Path) -> None:
    image = _photo().quantize(64)
    pixels = np.asarray(image).copy()
    pixels[:, :48] = 0
    paletted = Image.frombytes("P", image.size, pixels.tobytes())
    paletted.putpalette(image.getpalette() or [])
    paletted.save(path, transparency=0)


@_ok("gray_key_transparency_png", "gray_trns.png", "grayscale PNG whose value 0 is transparent (tRNS key colour)")
def _gray_key_transparency_png(path: pathlib.Path) -> None:
    gray = np.asarray(_photo().convert("L")).copy()
    gray[:, :48] = 0
    Image.fromarray(gray).save(path, transparency=0)


@_ok("la_png", "la.png", "grayscale + alpha (LA) PNG, left quarter transparent")
def _la_png(path: pathlib.Path) -> None:
    alpha = np.full(PHOTO_SIZE[::-1], 255, np.uint8)
    alpha[:, :48] = 0
    Image.merge("LA", [_photo().convert("L"), Image.fromarray(alpha)]).save(path)


@_ok("rgba_png", "rgba.png", "RGBA PNG: left quarter fully transparent, next quarter half transparent")
def _rgba_png(path: pathlib.Path) -> None:
    alpha = np.full(PHOTO_SIZE[::-1], 255, np.uint8)
    alpha[:, :48] = 0
    alpha[:, 48:96] = 128
    rgba = _photo().convert("RGBA")
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(path)


@_ok("bilevel_bmp", "bilevel.bmp", "1-bit (mode 1) BMP, Floyd-Steinberg dithered")
def _bilevel_bmp(path: pathlib.Path) -> None:
    _photo().convert("1").save(path)


@_ok("animated_gif", "animated.gif", "3-frame GIF; frame 0 has a red marker, later ones green and blue")
def _animated_gif(path: pathlib.Path) -> None:
    first, *rest = _frames()
    first.save(path, save_all=True, append_images=rest, duration=100, loop=0)


@_ok("animated_webp", "animated.webp", "3-frame lossless animated WebP")
def _animated_webp(path: pathlib.Path) -> None:
    first, *rest = _frames()
    first.save(path, save_all=True, append_images=rest, duration=100, loop=0, lossless=True)


@_ok("apng", "animated.png", "3-frame animated PNG (APNG)")
def _apng(path: pathlib.Path) -> None:
    first, *rest = _frames()
    first.save(path, save_all=True, append_images=rest, duration=100, loop=0)


@_ok("huge_text_chunk_png", "huge_text.png", "PNG with a 1 MB tEXt chunk (just under Pillow's per-chunk limit)")
def _huge_text_chunk_png(path: pathlib.Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "x" * (1_000_000))
    _photo().save(path, pnginfo=info)


@_ok("huge_exif_png", "huge_exif.png", "PNG with a 1 MB eXIf chunk (ImageDescription), parsed for orientation")
def _huge_exif_png(path: pathlib.Path) -> None:
    exif = Image.Exif()
    exif[0x010E] = "y" * 1_000_000  # ImageDescription
    exif[0x0112] = 1
    _photo().save(path, exif=exif.tobytes())


@_ok("huge_icc_jpeg", "huge_icc.jpg", "JPEG carrying a 1 MB ICC profile split over 17 APP2 markers")
def _huge_icc_jpeg(path: pathlib.Path) -> None:
    path.write_bytes(_encode(_photo(), "JPEG", icc_profile=_noise(2, 1_000_000)))


@_ok("corrupt_jpeg_scan", "corrupt_scan.jpg", "200 noise bytes mid-scan: libjpeg conceals it, Pillow loads it")
def _corrupt_jpeg_scan(path: pathlib.Path) -> None:
    data = bytearray(_jpeg())
    middle = len(data) // 2
    data[middle : middle + 200] = _noise(3, 200).replace(b"\xff", b"\x00")  # no fake markers
    path.write_bytes(bytes(data))


@_ok("tiff_lzw", "photo.tif", "LZW-compressed RGB TIFF")
def _tiff_lzw(path: pathlib.Path) -> None:
    _photo().save(path, compression="tiff_lzw")


@_ok("cmyk_tiff", "cmyk.tif", "CMYK TIFF")
def _cmyk_tiff(path: pathlib.Path) -> None:
    _photo().convert("CMYK").save(path)


@_ok("lab_tiff", "lab.tif", "CIELAB TIFF (mode LAB)")
def _lab_tiff(path: pathlib.Path) -> None:
    _photo().convert("LAB").save(path)


@_ok("bmp", "photo.bmp", "24-bit BMP")
def _bmp(path: pathlib.Path) -> None:
    _photo().save(path)


@_ok("ico", "icon.ico", "ICO holding 16, 32 and 64 px icons: the largest is used", (64, 64))
def _ico(path: pathlib.Path) -> None:
    _photo().crop((32, 0, 160, 128)).save(path, sizes=[(16, 16), (32, 32), (64, 64)])


@_ok("ppm", "photo.ppm", "binary PPM (P6)")
def _ppm(path: pathlib.Path) -> None:
    _photo().save(path)


@_ok("webp_lossless", "lossless.webp", "lossless WebP")
def _webp_lossless(path: pathlib.Path) -> None:
    _photo().save(path, lossless=True)


@_ok("webp_lossy", "lossy.webp", "lossy WebP, what browsers' 'Save image as' often gives")
def _webp_lossy(path: pathlib.Path) -> None:
    _photo().save(path, quality=80)


if features.check("avif"):

    @_ok("avif", "photo.avif", "AVIF, the other format browsers now save images in")
    def _avif(path: pathlib.Path) -> None:
        _photo().save(path, quality=80)


@_ok("smallest_allowed_png", "16x16.png", "16x16 PNG: exactly the smallest accepted size", (16, 16))
def _smallest_allowed_png(path: pathlib.Path) -> None:
    _photo().crop((80, 40, 96, 56)).save(path)


# ------------------------------------------------------------------------------------------------- refused uploads


@_error("truncated_jpeg", "truncated.jpg", "JPEG cut at 60%, as an interrupted upload leaves it", "truncated")
def _truncated_jpeg(path: pathlib.Path) -> None:
    data = _jpeg()
    path.write_bytes(data[: len(data) * 6 // 10])


@_error("truncated_png", "truncated.png", "PNG cut at 60%", "truncated")
def _truncated_png(path: pathlib.Path) -> None:
    data = _png()
    path.write_bytes(data[: len(data) * 6 // 10])


@_error("truncated_gif", "truncated.gif", "GIF cut at 50%", "truncated")
def _truncated_gif(path: pathlib.Path) -> None:
    data = _encode(_photo(), "GIF")
    path.write_bytes(data[: len(data) // 2])


@_error("corrupt_jpeg_header", "corrupt_header.jpg", "noise over the JPEG's quantisation/Huffman tables", "corrupt")
def _corrupt_jpeg_header(path: pathlib.Path) -> None:
    data = bytearray(_jpeg())
    data[20:220] = _noise(4, 200)
    path.write_bytes(bytes(data))


@_error("corrupt_png_crc", "bad_crc.png", "PNG whose IHDR checksum is wrong", "corrupt")
def _corrupt_png_crc(path: pathlib.Path) -> None:
    data = bytearray(_png())
    data[29] ^= 0xFF  # first byte of the IHDR CRC (8 signature + 8 length/type + 13 body)
    path.write_bytes(bytes(data))


@_error("corrupt_png_data", "bad_idat.png", "PNG whose compressed pixel data has noise in it", "corrupt")
def _corrupt_png_data(path: pathlib.Path) -> None:
    data = bytearray(_png())
    start = data.index(b"IDAT") + 50
    data[start : start + 40] = _noise(5, 40)
    path.write_bytes(bytes(data))


@_error("empty_jpg", "empty.jpg", "empty file named .jpg", "empty")
def _empty_jpg(path: pathlib.Path) -> None:
    path.write_bytes(b"")


@_error("zero_byte_png", "zero.png", "zero-byte .png (a failed upload)", "empty")
def _zero_byte_png(path: pathlib.Path) -> None:
    path.touch()


@_error("text_as_jpg", "notes.jpg", "plain text renamed .jpg", "text")
def _text_as_jpg(path: pathlib.Path) -> None:
    path.write_text("These are my notes about the cat picture, not the picture itself.\n" * 20)


@_error("html_as_png", "page.png", "an HTML page saved as .png (the page around an image)", "HTML")
def _html_as_png(path: pathlib.Path) -> None:
    path.write_text(
        "<!DOCTYPE html>\n<html><head><title>cat.png</title></head>\n"
        '<body><img src="https://example.com/cat.png" alt="cat"></body></html>\n'
    )


@_error("svg_as_png", "drawing.png", "an SVG drawing renamed .png", "SVG")
def _svg_as_png(path: pathlib.Path) -> None:
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="30"/></svg>\n'
    )


@_error("pdf_as_jpg", "scan.jpg", "a PDF renamed .jpg", "PDF")
def _pdf_as_jpg(path: pathlib.Path) -> None:
    path.write_bytes(
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" + _noise(6, 400)
    )


@_error("zip_as_png", "archive.png", "a ZIP archive (holding a PNG) renamed .png", "ZIP")
def _zip_as_png(path: pathlib.Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("photo.png", _png())


@_error("heic_like", "IMG_0001.heic", "HEIC header (iPhone default) followed by noise; Pillow has no decoder", "HEIC")
def _heic_like(path: pathlib.Path) -> None:
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + _noise(7, 2000))


@_error("mp4_like", "clip.jpg", "an MP4 video header renamed .jpg", "video")
def _mp4_like(path: pathlib.Path) -> None:
    path.write_bytes(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + _noise(8, 2000))


@_error("dicom_like", "scan.png", "a DICOM file (128-byte preamble + DICM) renamed .png", "DICOM")
def _dicom_like(path: pathlib.Path) -> None:
    path.write_bytes(bytes(128) + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00\xc8\x00\x00\x00" + _noise(9, 500))


@_error("random_bytes", "noise.png", "4 kB of random bytes named .png", "not an image")
def _random_bytes(path: pathlib.Path) -> None:
    path.write_bytes(b"\x07" + _noise(10, 4096))


@_error(
    "eps_as_png", "figure.png", "an EPS figure: Pillow could open it via Ghostscript, but EPS is not accepted", "EPS"
)
def _eps_as_png(path: pathlib.Path) -> None:
    path.write_bytes(
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nnewpath 0 0 moveto 64 64 lineto stroke\n%%EOF\n"
    )


@_error("bomb_png_30000", "bomb.png", "30000x30000 1-bit PNG: 110 kB on disk, 900 MB decoded", "pixels")
def _bomb_png_30000(path: pathlib.Path) -> None:
    path.write_bytes(_bilevel_png_of_zeros(30_000, 30_000))


@_error("png_20000", "20000.png", "20000x20000 PNG (400 MP, over Pillow's own 179 MP error limit)", "pixels")
def _png_20000(path: pathlib.Path) -> None:
    path.write_bytes(_bilevel_png_of_zeros(20_000, 20_000))


@_error(
    "png_100mp", "100mp.png", "10000x10000 PNG: between Pillow's warning (89 MP) and error (179 MP) limits", "pixels"
)
def _png_100mp(path: pathlib.Path) -> None:
    path.write_bytes(_bilevel_png_of_zeros(10_000, 10_000))


@_error("png_42mp", "42mp.png", "7000x6000 PNG: under Pillow's limits, over MAX_PIXELS", "pixels")
def _png_42mp(path: pathlib.Path) -> None:
    path.write_bytes(_bilevel_png_of_zeros(7_000, 6_000))


@_error("gif_bomb", "bomb.gif", "GIF declaring a 65535x65535 screen and frame in 40 bytes", "pixels")
def _gif_bomb(path: pathlib.Path) -> None:
    side = 65535
    header = b"GIF89a" + struct.pack("<HHBBB", side, side, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"," + struct.pack("<HHHHB", 0, 0, side, side, 0) + b"\x02\x01\x2c\x00"  # LZW: clear, end
    path.write_bytes(header + frame + b";")


@_error("jpeg_bomb", "bomb.jpg", "a small JPEG whose frame header claims 65000x65000", "pixels")
def _jpeg_bomb(path: pathlib.Path) -> None:
    data = bytearray(_jpeg())
    frame = data.index(b"\xff\xc0")  # SOF0: marker, length (2), precision (1), height (2), width (2)
    data[frame + 5 : frame + 9] = struct.pack(">HH", 65000, 65000)
    path.write_bytes(bytes(data))


@_error("one_pixel_png", "1x1.png", "1x1 PNG: upscaled it is a flat colour, so explanations mean nothing", "16x16")
def _one_pixel_png(path: pathlib.Path) -> None:
    Image.new("RGB", (1, 1), (200, 30, 30)).save(path)


@_error("sliver_png", "sliver.png", "2x1000 sliver: timm's resize would make it 248x124000", "16x16")
def _sliver_png(path: pathlib.Path) -> None:
    Image.fromarray(_noise_pixels(1000, 2)).save(path)


@_error("oversized_file", "huge.png", "a valid PNG zero-padded (sparsely) past MAX_UPLOAD_BYTES", "MB")
def _oversized_file(path: pathlib.Path) -> None:
    path.write_bytes(_png())
    with path.open("r+b") as file:
        file.truncate(MAX_UPLOAD_BYTES + 1024 * 1024)


@_error(
    "ztxt_bomb_png", "ztxt_bomb.png", "PNG whose zTXt chunk inflates to 64 MB (Pillow caps text at 1 MB)", "metadata"
)
def _ztxt_bomb_png(path: pathlib.Path) -> None:
    bomb = _chunk(b"zTXt", b"Comment\x00\x00" + _zlib_zeros(64 * 1024 * 1024))
    pixels = zlib.compress(b"".join(b"\x00" + bytes(16 * 3) for _ in range(16)))
    path.write_bytes(_png_from_chunks(16, 16, 8, 2, pixels, bomb))


def _noise_pixels(height: int, width: int) -> npt.NDArray[np.uint8]:
    return np.frombuffer(_noise(11, height * width * 3), np.uint8).reshape(height, width, 3)


CASE_NAMES: tuple[str, ...] = tuple(_SPECS)
OK_CASE_NAMES: tuple[str, ...] = tuple(name for name, spec in _SPECS.items() if spec.expect == "ok")
ERROR_CASE_NAMES: tuple[str, ...] = tuple(name for name, spec in _SPECS.items() if spec.expect == "error")
