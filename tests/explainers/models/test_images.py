"""load_image against the generated corpus of awkward and hostile uploads, plus fuzzing with hypothesis."""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import io
import pathlib
import threading
import time
import warnings

import numpy as np
import numpy.typing as npt
import psutil
import pytest
from corpus import (
    CASE_NAMES,
    ERROR_CASE_NAMES,
    FRAME_COLOURS,
    MARKER,
    MARKER_BOX,
    OK_CASE_NAMES,
    Case,
    build_corpus,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, features

from explainers.errors import ImageError
from explainers.models.images import MAX_PIXELS, MIN_SIDE, image_sha256, load_image

SECONDS_PER_CASE = 5.0
# Pillow warns (and goes on) about EXIF it cannot parse and about images between 1x and 2x its own pixel limit; both
# are corpus cases, checked here by outcome, so the warnings are expected noise.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Corrupt EXIF data:UserWarning", "ignore::PIL.Image.DecompressionBombWarning"
)
FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    return {case.name: case for case in build_corpus(tmp_path_factory.mktemp("corpus"))}


def _pixels(image: Image.Image) -> npt.NDArray[np.uint8]:
    return np.asarray(image)


def _close_to(pixel: npt.ArrayLike, colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return bool(np.all(np.abs(np.asarray(pixel, dtype=int) - colour) <= tolerance))


def _load_timed(path: pathlib.Path) -> Image.Image:
    start = time.perf_counter()
    try:
        return load_image(path)
    finally:
        elapsed = time.perf_counter() - start
        assert elapsed < SECONDS_PER_CASE, f"took {elapsed:.1f} s"


def test_corpus_has_every_kind_of_upload_the_brief_lists() -> None:
    assert len(CASE_NAMES) >= 32
    assert len(set(CASE_NAMES)) == len(CASE_NAMES)
    assert set(CASE_NAMES) == set(OK_CASE_NAMES) | set(ERROR_CASE_NAMES)


@pytest.mark.parametrize("name", OK_CASE_NAMES)
def test_readable_upload_becomes_an_8_bit_rgb_image_of_the_expected_size(name: str, corpus: dict[str, Case]) -> None:
    case = corpus[name]
    image = _load_timed(case.path)
    assert image.mode == "RGB"
    assert image.size == case.expect_size
    pixels = _pixels(image)
    assert pixels.dtype == np.uint8
    assert pixels.shape == (image.height, image.width, 3)
    assert pixels.std() > 10, "the image came out blank"


@pytest.mark.parametrize("name", ERROR_CASE_NAMES)
def test_bad_upload_is_refused_with_a_message_that_says_what_is_wrong(name: str, corpus: dict[str, Case]) -> None:
    case = corpus[name]
    assert case.expect_message is not None
    with pytest.raises(ImageError) as refused:
        _load_timed(case.path)
    assert case.expect_message.lower() in str(refused.value).lower()
    assert ";" in str(refused.value), "the message should go on to say what to do"


def test_pillows_bomb_warning_is_refused_too_when_warnings_are_errors(corpus: dict[str, Case]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(ImageError, match="pixels"):
            load_image(corpus["png_100mp"].path)


def test_transparent_pixels_are_composited_on_white(corpus: dict[str, Case]) -> None:
    for name in ("rgba_png", "la_png", "palette_transparency_png", "gray_key_transparency_png"):
        pixels = _pixels(load_image(corpus[name].path))
        assert (pixels[:, :48] == 255).all(), name
    half = _pixels(load_image(corpus["rgba_png"].path))[:, 48:96].astype(int)
    opaque = _pixels(load_image(corpus["photo_png"].path))[:, 48:96].astype(int)
    assert np.abs(half - (opaque * 128 + 255 * 127) / 255).max() <= 1


def test_transparent_array_pixels_are_composited_on_white() -> None:
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[:, 16:] = (10, 20, 30, 255)
    pixels = _pixels(load_image(rgba))
    assert (pixels[:, :16] == 255).all()
    assert (pixels[:, 16:] == (10, 20, 30)).all()


@pytest.mark.parametrize(
    ("name", "corner"),
    [
        ("exif_rotate_90_jpeg", "top_right"),
        ("exif_rotate_180_jpeg", "bottom_right"),
        ("exif_rotate_270_jpeg", "bottom_left"),
    ],
)
def test_exif_orientation_is_applied(name: str, corner: str, corpus: dict[str, Case]) -> None:
    pixels = _pixels(load_image(corpus[name].path))
    height, width = pixels.shape[:2]
    corners = {
        "top_left": pixels[5, 5],
        "top_right": pixels[5, width - 6],
        "bottom_left": pixels[height - 6, 5],
        "bottom_right": pixels[height - 6, width - 6],
    }
    assert [where for where, pixel in corners.items() if _close_to(pixel, MARKER)] == [corner]


@pytest.mark.parametrize("name", ["animated_gif", "animated_webp", "apng"])
def test_first_frame_of_an_animation_is_used(name: str, corpus: dict[str, Case]) -> None:
    left, upper, right, lower = MARKER_BOX
    pixel = _pixels(load_image(corpus[name].path))[(upper + lower) // 2, (left + right) // 2]
    assert _close_to(pixel, FRAME_COLOURS[0]), pixel


def test_twelve_bit_xray_keeps_its_full_contrast(corpus: dict[str, Case]) -> None:
    pixels = _pixels(load_image(corpus["xray12_png"].path))
    assert pixels.min() == 0
    assert pixels.max() == 255
    assert pixels[100, 80, 0] == 255  # the disc (4095) is white, not clipped tissue
    assert 0 < pixels[150, 5, 0] < 255  # tissue keeps its gradient


def test_float_and_int_tiffs_are_scaled_like_the_photo_they_came_from(corpus: dict[str, Case]) -> None:
    gray16 = _pixels(load_image(corpus["gray16_png"].path)).astype(int)
    for name in ("float32_tiff", "int32_tiff"):
        assert np.abs(_pixels(load_image(corpus[name].path)).astype(int) - gray16).max() <= 2, name


@pytest.mark.parametrize(
    "array",
    [
        np.full((20, 30), 7, np.uint8),
        np.zeros((20, 30, 1), np.uint16),
        np.zeros((20, 30, 3), np.float32),
        np.zeros((20, 30, 4), np.float64),
        np.zeros((20, 30), bool),
    ],
    ids=["gray_uint8", "gray_uint16_channel", "rgb_float32", "rgba_float64", "bool"],
)
def test_arrays_of_every_accepted_layout_become_rgb(array: npt.NDArray[np.generic]) -> None:
    image = load_image(array)
    assert image.mode == "RGB"
    assert image.size == (30, 20)


def test_float_arrays_within_unit_range_are_scaled_by_255_and_others_by_their_range() -> None:
    unit = np.tile(np.linspace(0.25, 0.75, 32, dtype=np.float32), (32, 1))
    assert _pixels(load_image(unit))[0, [0, -1], 0].tolist() == [64, 191]
    wide = unit * 1000 - 300
    assert _pixels(load_image(wide))[0, [0, -1], 0].tolist() == [0, 255]


def test_uint16_array_uses_its_actual_range() -> None:
    ramp = np.tile(np.arange(0, 4096, 128, dtype=np.uint16), (32, 1))
    pixels = _pixels(load_image(ramp))
    assert pixels[0, [0, -1], 0].tolist() == [0, 255]


def test_array_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ImageError, match="shape"):
        load_image(np.zeros((32, 32, 2), np.uint8))


def test_array_of_an_unsupported_dtype_is_refused() -> None:
    with pytest.raises(ImageError, match="int64"):
        load_image(np.zeros((32, 32, 3), np.int64))


def test_array_with_nan_is_refused() -> None:
    array = np.zeros((32, 32), np.float32)
    array[3, 3] = np.nan
    with pytest.raises(ImageError, match="NaN"):
        load_image(array)


def test_array_that_is_too_small_is_refused() -> None:
    with pytest.raises(ImageError, match=f"{MIN_SIDE}x{MIN_SIDE}"):
        load_image(np.zeros((1, 1, 3), np.uint8))


def test_array_with_too_many_pixels_is_refused_before_any_conversion() -> None:
    huge = np.broadcast_to(np.uint8(0), (MAX_PIXELS // 1000 + 1, 1000, 3))  # no memory behind it
    with pytest.raises(ImageError, match="million pixels"):
        load_image(huge)


def test_nothing_uploaded_is_refused() -> None:
    with pytest.raises(ImageError, match="no image was uploaded"):
        load_image(None)


def test_missing_file_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ImageError, match="no file"):
        load_image(tmp_path / "gone.png")


def test_folder_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)


def test_other_source_types_are_a_programming_error() -> None:
    with pytest.raises(TypeError, match="list"):
        load_image([1, 2, 3])  # type: ignore[arg-type]


def test_path_str_bytes_and_bytearray_give_the_same_image(corpus: dict[str, Case]) -> None:
    path = corpus["photo_jpeg"].path
    expected = load_image(path).tobytes()
    for source in (str(path), path.read_bytes(), bytearray(path.read_bytes())):
        assert load_image(source).tobytes() == expected


def test_pil_image_is_converted_without_being_modified(corpus: dict[str, Case]) -> None:
    with Image.open(corpus["rgba_png"].path) as original:
        before = original.copy()
        loaded = load_image(original)
        assert loaded is not original
        assert original.mode == "RGBA"
        assert original.tobytes() == before.tobytes()
    assert loaded.tobytes() == load_image(corpus["rgba_png"].path).tobytes()


def test_pil_image_with_exif_orientation_is_turned_upright(corpus: dict[str, Case]) -> None:
    with Image.open(corpus["exif_rotate_90_jpeg"].path) as lazy:
        assert load_image(lazy).size == (128, 192)


@pytest.mark.parametrize("mode", sorted(Image.MODES))
def test_every_pil_mode_becomes_rgb(mode: str) -> None:
    assert load_image(Image.new(mode, (20, 20))).mode == "RGB"


def test_loading_in_eight_threads_at_once_gives_the_serial_results(corpus: dict[str, Case]) -> None:
    names = [
        "photo_jpeg",
        "cmyk_jpeg",
        "exif_rotate_90_jpeg",
        "xray12_png",
        "float32_tiff",
        "rgba_png",
        "animated_gif",
        "palette_transparency_png",
    ]
    serial = {name: load_image(corpus[name].path).tobytes() for name in names}
    barrier = threading.Barrier(len(names))

    def load(name: str) -> bytes:
        barrier.wait()
        return b"".join(load_image(corpus[name].path).tobytes() for _ in range(20))

    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        parallel = dict(zip(names, pool.map(load, names), strict=True))
    assert all(parallel[name] == serial[name] * 20 for name in names)


def test_no_file_handle_is_left_open(corpus: dict[str, Case]) -> None:
    process = psutil.Process()
    before = {file.path for file in process.open_files()}
    for case in corpus.values():
        with contextlib.suppress(ImageError):
            load_image(case.path)
        with contextlib.suppress(ImageError):
            image_sha256(case.path)
    leaked = {file.path for file in process.open_files()} - before
    assert not leaked


def test_global_pillow_and_warning_state_is_left_alone(corpus: dict[str, Case]) -> None:
    state = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    for case in corpus.values():
        with contextlib.suppress(ImageError):
            load_image(case.path)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters)) == state


def test_file_hash_is_the_sha256_of_the_file_bytes(corpus: dict[str, Case]) -> None:
    path = corpus["photo_png"].path
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert image_sha256(path) == image_sha256(str(path)) == image_sha256(path.read_bytes()) == expected


def test_array_hash_depends_on_pixels_and_shape() -> None:
    pixels = np.arange(16 * 32 * 3, dtype=np.uint32).astype(np.uint8).reshape(16, 32, 3)
    same = image_sha256(pixels)
    assert same == image_sha256(pixels.copy()) == image_sha256(Image.fromarray(pixels))
    assert same != image_sha256(pixels.reshape(32, 16, 3))
    assert same != image_sha256(pixels[::-1])


def test_oversized_file_is_refused_by_hash_too(corpus: dict[str, Case]) -> None:
    with pytest.raises(ImageError, match="MB"):
        image_sha256(corpus["oversized_file"].path)


def _rgb_or_image_error(data: bytes) -> None:
    try:
        image = load_image(data)
    except ImageError as refused:
        assert str(refused)
        return
    assert image.mode == "RGB"
    assert min(image.size) >= MIN_SIDE
    assert image.width * image.height <= MAX_PIXELS


def _seed_files() -> list[bytes]:
    gradient = Image.fromarray(np.add.outer(np.arange(24), np.arange(32)).astype(np.uint8) * 4).convert("RGB")
    seeds = []
    for format, options in [
        ("PNG", {}),
        ("JPEG", {}),
        ("JPEG", {"progressive": True}),
        ("GIF", {}),
        ("BMP", {}),
        ("TIFF", {"compression": "tiff_lzw"}),
        ("WEBP", {"lossless": True}),
        ("ICO", {}),
        ("PPM", {}),
        *([("AVIF", {"quality": 50})] if features.check("avif") else []),
    ]:
        buffer = io.BytesIO()
        gradient.save(buffer, format, **options)
        seeds.append(buffer.getvalue())
    return seeds


SEEDS = _seed_files()
MAGICS = [
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"RIFF\x00\x00\x00\x00WEBP",
]


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_give_an_rgb_image_or_an_image_error(data: bytes) -> None:
    _rgb_or_image_error(data)


@FUZZ
@given(st.sampled_from(MAGICS), st.binary(max_size=2048))
def test_random_bytes_after_a_real_signature_give_an_rgb_image_or_an_image_error(magic: bytes, rest: bytes) -> None:
    _rgb_or_image_error(magic + rest)


@FUZZ
@given(
    st.sampled_from(range(len(SEEDS))),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
    st.one_of(st.none(), st.integers(1, 10_000)),
)
def test_damaged_real_images_give_an_rgb_image_or_an_image_error(
    seed: int, edits: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(SEEDS[seed])
    for position, value in edits:
        data[position % len(data)] = value
    _rgb_or_image_error(bytes(data[:cut]))


def test_a_48_megapixel_phone_jpeg_is_decoded_at_half_size_instead_of_refused() -> None:
    import io as _io

    from PIL import Image as _Image

    from explainers.models.images import MAX_PIXELS, load_image

    small = np.random.default_rng(0).integers(0, 255, (378, 504, 3), dtype=np.uint8)
    photo = _Image.fromarray(small).resize((8064, 6048))
    buffer = _io.BytesIO()
    photo.save(buffer, "JPEG", quality=70)
    loaded = load_image(buffer.getvalue())
    assert loaded.size == (4032, 3024)
    assert 8064 * 6048 > MAX_PIXELS >= loaded.width * loaded.height
