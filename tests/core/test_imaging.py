"""Decoding: every odd file gives an RGB image or a one-line DecodeError, never a crash."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from resnet_desktop.core import imaging
from resnet_desktop.core.imaging import DecodeError, load_input, open_image, to_input
from resnet_desktop.core.zoo import Preprocess

RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)
FORMAT_OF = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".avif": "AVIF",
}
IMAGENET_V2 = Preprocess(crop=224, resize=232)


def save(image: Image.Image, path: Path, **params) -> Path:
    image.save(path, **params)
    return path


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    return tuple(image.getpixel(xy))


def assert_close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> None:
    assert all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True)), (
        actual,
        expected,
    )


def smooth_noise(width: int, height: int, seed: int = 0) -> Image.Image:
    """A photo-like test card: large blobs of colour plus fine noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    noise = rng.integers(-20, 21, (height, width, 3))
    return Image.fromarray(np.clip(np.asarray(image) + noise, 0, 255).astype(np.uint8))


# ----------------------------------------------------------------------- extensions


def test_extensions_are_lowercase_with_dot():
    assert {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"} <= (
        imaging.IMAGE_EXTENSIONS
    )
    assert all(ext.startswith(".") and ext == ext.lower() for ext in imaging.IMAGE_EXTENSIONS)


def test_avif_is_listed_when_pillow_reads_it():
    from PIL import features

    assert (".avif" in imaging.IMAGE_EXTENSIONS) == bool(features.check("avif"))


@pytest.mark.parametrize("upper", [False, True], ids=["lower", "upper"])
@pytest.mark.parametrize("ext", sorted(imaging.IMAGE_EXTENSIONS & FORMAT_OF.keys()))
def test_every_extension_decodes(tmp_path, ext, upper):
    name = "card" + (ext.upper() if upper else ext)
    params = {"quality": 95} if FORMAT_OF[ext] in {"JPEG", "WEBP", "AVIF"} else {}
    path = save(Image.new("RGB", (24, 16), GREEN), tmp_path / name, format=FORMAT_OF[ext], **params)
    image = open_image(path)
    assert image.mode == "RGB"
    assert image.size == (24, 16)
    assert_close(pixel(image, (12, 8)), GREEN)


# --------------------------------------------------------------------- broken files


def test_truncated_jpeg_fails_at_open(tmp_path):
    data = io.BytesIO()
    smooth_noise(64, 64).save(data, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    with pytest.raises(DecodeError, match="truncated"):
        open_image(path)


def test_truncated_png_fails(tmp_path):
    data = io.BytesIO()
    smooth_noise(64, 64).save(data, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    with pytest.raises(DecodeError):
        open_image(path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(DecodeError, match="empty file"):
        open_image(path)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are not the pixels you are looking for\n" * 10)
    with pytest.raises(DecodeError, match="not an image"):
        open_image(path)


def test_content_decides_not_the_extension(tmp_path):
    path = save(Image.new("RGB", (10, 6), BLUE), tmp_path / "really_a_png.jpg", format="PNG")
    image = open_image(path)
    assert image.size == (10, 6)
    assert pixel(image, (5, 3)) == BLUE


def opened_format(path: Path) -> str | None:
    with Image.open(path) as probe:
        return probe.format


@pytest.mark.parametrize("fmt", ["EPS", "ICO", "PCX", "PPM", "TGA", "SGI", "DDS", "QOI"])
def test_formats_outside_the_allow_list_are_refused(tmp_path, fmt):
    path = save(Image.new("RGB", (16, 16), RED), tmp_path / "disguised.jpg", format=fmt)
    assert opened_format(path) == fmt  # Pillow itself would read it
    with pytest.raises(DecodeError, match="not supported"):
        open_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(DecodeError, match="file not found"):
        open_image(tmp_path / "gone.jpg")


def test_folder_is_not_a_file(tmp_path):
    folder = tmp_path / "album.jpg"
    folder.mkdir()
    with pytest.raises(DecodeError, match="folder"):
        open_image(folder)


def test_permission_denied_is_a_decode_error(tmp_path, monkeypatch):
    path = save(Image.new("RGB", (4, 4)), tmp_path / "locked.png")

    def refuse(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    # Root reads any file whatever its mode, so simulate the refusal at open().
    monkeypatch.setattr(imaging, "open", refuse, raising=False)
    with pytest.raises(DecodeError, match="permission denied"):
        open_image(path)


@pytest.mark.timeout(10)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(DecodeError, match="not a regular file"):
        open_image(fifo)


def test_reason_is_one_line(tmp_path):
    path = tmp_path / "junk.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\nbroken\n" * 50)
    with pytest.raises(DecodeError) as caught:
        open_image(path)
    assert "\n" not in str(caught.value)
    assert str(caught.value)


# ------------------------------------------------------------- decompression bombs


def test_decompression_bomb_refused_by_pillow(tmp_path, monkeypatch):
    path = save(Image.new("RGB", (20, 20)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 400 pixels: over twice the limit
    with pytest.raises(DecodeError, match="too large"):
        open_image(path)


def test_decompression_bomb_warning_as_error_is_refused(tmp_path, monkeypatch):
    path = save(Image.new("RGB", (12, 10)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 120 pixels: Pillow only warns
    with pytest.raises(DecodeError, match="too large"):
        open_image(path)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_decompression_bomb_refused_even_when_pillow_only_warns(tmp_path, monkeypatch):
    path = save(Image.new("RGB", (12, 10)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(DecodeError, match=r"too large \(120 pixels"):
        open_image(path)


def test_image_at_the_limit_decodes(tmp_path, monkeypatch):
    path = save(Image.new("RGB", (10, 10)), tmp_path / "fine.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert open_image(path).size == (10, 10)


# ------------------------------------------------------------------------ modes


def test_exif_orientation_is_applied(tmp_path):
    stored = Image.new("RGB", (40, 20), RED)
    stored.paste(BLUE, (20, 0, 40, 20))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    path = save(stored, tmp_path / "phone.jpg", exif=exif, quality=95)
    image = open_image(path)
    assert image.size == (20, 40)
    assert_close(pixel(image, (10, 5)), RED)  # the stored left edge is now the top
    assert_close(pixel(image, (10, 35)), BLUE)


def test_no_orientation_keeps_the_image(tmp_path):
    path = save(Image.new("RGB", (40, 20), RED), tmp_path / "plain.jpg")
    assert open_image(path).size == (40, 20)


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_gray_keeps_its_range(tmp_path, mode, fmt):
    values = np.array([[65535, 32768, 0, 256, 4096]], dtype=np.uint16)
    dtype = ">u2" if mode == "I;16B" else "<u2"
    source = Image.frombytes(mode, (5, 1), values.astype(dtype).tobytes())
    path = save(source, tmp_path / f"deep.{fmt.lower()}", format=fmt)
    image = open_image(path)
    assert image.mode == "RGB"
    assert [pixel(image, (x, 0)) for x in range(5)] == [(v, v, v) for v in (255, 128, 0, 1, 16)]


def test_32_bit_integer_gray_is_read_as_16_bit(tmp_path):
    values = np.array([[65535, 32768, 0, 70000, -5]], dtype=np.int32)
    path = save(Image.fromarray(values), tmp_path / "int.tif")
    image = open_image(path)
    assert [pixel(image, (x, 0))[0] for x in range(5)] == [255, 128, 0, 255, 0]


@pytest.mark.parametrize(
    ("values", "expected"),
    [([0.0, 0.5, 1.0], [0, 128, 255]), ([0.0, 100.0, 300.0], [0, 100, 255])],
    ids=["unit-range", "byte-range"],
)
def test_float_gray(tmp_path, values, expected):
    path = save(Image.fromarray(np.array([values], dtype=np.float32)), tmp_path / "float.tif")
    image = open_image(path)
    assert [pixel(image, (x, 0))[0] for x in range(3)] == expected


def test_cmyk_jpeg(tmp_path):
    path = save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), tmp_path / "print.jpg", quality=95)
    with Image.open(path) as original:
        assert original.mode == "CMYK"
    image = open_image(path)
    assert image.mode == "RGB"
    assert_close(pixel(image, (8, 8)), RED)


def test_palette_png_with_transparency_is_composited_on_white(tmp_path):
    source = Image.new("P", (20, 10), 0)
    source.putpalette([0, 0, 0, 255, 0, 0])  # 0: black (transparent), 1: red
    source.paste(1, (10, 0, 20, 10))
    path = save(source, tmp_path / "logo.png", transparency=0)
    image = open_image(path)
    assert image.mode == "RGB"
    assert pixel(image, (2, 5)) == WHITE
    assert pixel(image, (15, 5)) == RED


def test_palette_without_transparency(tmp_path):
    source = Image.new("P", (8, 8), 1)
    source.putpalette([0, 0, 0, 0, 0, 255])
    image = open_image(save(source, tmp_path / "flat.png"))
    assert pixel(image, (4, 4)) == BLUE


@pytest.mark.parametrize(
    ("mode", "color", "expected"),
    [
        ("LA", (0, 0), WHITE),
        ("LA", (0, 255), BLACK),
        ("LA", (0, 128), (127, 127, 127)),
        ("RGBA", (255, 0, 0, 0), WHITE),
        ("RGBA", (0, 0, 255, 255), BLUE),
    ],
)
def test_alpha_is_composited_on_white(tmp_path, mode, color, expected):
    path = save(Image.new(mode, (6, 6), color), tmp_path / "alpha.png")
    image = open_image(path)
    assert image.mode == "RGB"
    assert_close(pixel(image, (3, 3)), expected, tolerance=1)


def test_one_bit(tmp_path):
    source = Image.new("1", (8, 8), 0)
    source.paste(1, (4, 0, 8, 8))
    image = open_image(save(source, tmp_path / "fax.png"))
    assert pixel(image, (1, 1)) == BLACK
    assert pixel(image, (6, 1)) == WHITE


def test_gray_becomes_rgb(tmp_path):
    image = open_image(save(Image.new("L", (8, 8), 77), tmp_path / "gray.jpg", quality=95))
    assert image.mode == "RGB"
    assert_close(pixel(image, (4, 4)), (77, 77, 77), tolerance=2)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animation_gives_the_first_frame(tmp_path, fmt):
    frames = [Image.new("RGB", (12, 12), color) for color in (RED, GREEN, BLUE)]
    path = tmp_path / f"anim.{fmt.lower()}"
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:], duration=50)
    with Image.open(path) as original:
        assert original.n_frames == 3
    assert_close(pixel(open_image(path), (6, 6)), RED)


# ------------------------------------------------------------------------ draft


def test_draft_reduces_a_big_jpeg_but_keeps_min_size(tmp_path):
    path = save(smooth_noise(2000, 1500), tmp_path / "big.jpg")
    assert open_image(path).size == (2000, 1500)
    reduced = open_image(path, min_size=224)
    assert min(reduced.size) >= 224
    assert min(reduced.size) // 2 < 224  # the largest power-of-two reduction was taken
    assert reduced.size[0] < 2000
    assert reduced.mode == "RGB"


@pytest.mark.parametrize("min_size", [150, 300, 370, 376])
def test_draft_respects_the_shorter_side_of_a_portrait(tmp_path, min_size):
    path = save(smooth_noise(750, 1500), tmp_path / "portrait.jpg")
    image = open_image(path, min_size=min_size)
    assert min(image.size) >= min_size or image.size == (750, 1500)
    assert image.size[1] / image.size[0] == pytest.approx(2.0, abs=0.01)


def test_draft_then_exif_rotation_keeps_min_size(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 8
    path = save(smooth_noise(1200, 500), tmp_path / "rotated.jpg", exif=exif)
    image = open_image(path, min_size=224)
    assert image.size == (250, 600)


def test_small_images_are_not_reduced(tmp_path):
    path = save(smooth_noise(300, 200), tmp_path / "small.jpg")
    assert open_image(path, min_size=224).size == (300, 200)


# --------------------------------------------------------------------- to_input


@pytest.mark.parametrize(
    "preprocess",
    [Preprocess(crop=224, resize=232), Preprocess(crop=224, resize=256), Preprocess(32, None)],
    ids=["232-224", "256-224", "cifar"],
)
@pytest.mark.parametrize("size", [(300, 200), (123, 457), (32, 32), (1000, 751)])
def test_to_input_shape_and_dtype(preprocess, size):
    array = to_input(smooth_noise(*size), preprocess)
    assert array.shape == (preprocess.crop, preprocess.crop, 3)
    assert array.dtype == np.uint8
    assert array.flags.c_contiguous
    assert array.flags.writeable


@pytest.mark.parametrize("size", [(300, 200), (123, 457), (301, 203), (232, 500), (1600, 1201)])
@pytest.mark.parametrize("preprocess", [IMAGENET_V2, Preprocess(crop=224, resize=256)])
def test_to_input_matches_torchvision(size, preprocess):
    from torchvision import transforms

    image = smooth_noise(*size, seed=size[0])
    reference = transforms.Compose(
        [transforms.Resize(preprocess.resize), transforms.CenterCrop(preprocess.crop)]
    )
    expected = np.asarray(reference(image), dtype=np.int16)
    difference = np.abs(to_input(image, preprocess).astype(np.int16) - expected)
    assert difference.mean() < 0.5
    assert difference.max() <= 8


def test_to_input_without_resize_squashes_the_whole_image():
    image = Image.new("RGB", (64, 16), RED)
    image.paste(BLUE, (48, 0, 64, 16))  # the right quarter is blue
    array = to_input(image, Preprocess(crop=32, resize=None))
    assert array.shape == (32, 32, 3)
    assert tuple(array[16, 2]) == RED
    assert tuple(array[16, 30]) == BLUE  # nothing was cropped away


def test_to_input_accepts_other_modes():
    array = to_input(Image.new("L", (40, 40), 9), Preprocess(crop=32, resize=36))
    assert array.shape == (32, 32, 3)
    assert (array == 9).all()


def test_load_input_end_to_end(tmp_path):
    path = save(smooth_noise(640, 480), tmp_path / "photo.JPG")
    array = load_input(path, IMAGENET_V2)
    assert array.shape == (224, 224, 3)
    reference = to_input(open_image(path), IMAGENET_V2).astype(np.int16)
    assert np.abs(array.astype(np.int16) - reference).mean() < 3  # draft changes little


def test_load_input_raises_decode_error(tmp_path):
    path = tmp_path / "bad.jpg"
    path.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DecodeError):
        load_input(path, IMAGENET_V2)


@pytest.mark.parametrize("error", [SyntaxError("not a TIFF"), EOFError(), IndexError("tile")])
def test_any_exception_while_pillow_decodes_is_the_files_problem(tmp_path, monkeypatch, error):
    """Pillow's decoders raise many types on malformed bytes; each is a DecodeError."""
    path = save(Image.new("RGB", (8, 8), RED), tmp_path / "odd.png")

    def failing_load(image):
        raise error

    monkeypatch.setattr(ImageFile.ImageFile, "load", failing_load)
    with pytest.raises(DecodeError, match=type(error).__name__):
        open_image(path)


def test_a_bug_in_our_conversion_is_not_a_decode_error(tmp_path, monkeypatch):
    path = save(Image.new("L", (8, 8), 9), tmp_path / "gray.png")

    def broken(image):
        raise TypeError("bad mode table")

    monkeypatch.setattr(imaging, "_to_rgb", broken)
    with pytest.raises(TypeError, match="bad mode table"):
        open_image(path)


def test_a_bug_in_our_preprocessing_is_not_a_decode_error(tmp_path, monkeypatch):
    path = save(smooth_noise(64, 48), tmp_path / "photo.png")

    def broken(*args):
        raise AssertionError("box outside the image")

    monkeypatch.setattr(imaging, "resize_and_crop", broken)
    with pytest.raises(AssertionError, match="box outside"):
        load_input(path, IMAGENET_V2)
    assert imaging.array_or_reason(lambda: load_input(path, IMAGENET_V2), path).startswith(
        imaging.BUG_REASON
    )


def test_load_input_is_thread_safe(tmp_path):
    paths = [save(smooth_noise(200 + 10 * i, 150, seed=i), tmp_path / f"{i}.jpg") for i in range(8)]
    expected = [load_input(path, IMAGENET_V2) for path in paths]
    results: dict[int, np.ndarray] = {}

    def work(index: int) -> None:
        for _ in range(3):
            results[index] = load_input(paths[index], IMAGENET_V2)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(paths))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(np.array_equal(results[i], expected[i]) for i in range(len(paths)))


# ------------------------------------------------------------------- real photos


@pytest.mark.shared
def test_every_imagenet_sample_decodes(shared):
    folder = shared("data/imagenet-samples")
    paths = sorted(folder.iterdir())
    assert len(paths) == 1000
    grayscale = 0
    for path in paths:
        image = open_image(path, min_size=224)
        assert image.mode == "RGB", path.name
        with Image.open(path) as original:
            assert min(image.size) >= min(224, *original.size), path.name
            if original.mode == "L":
                grayscale += 1
                pixels = np.asarray(image)
                assert (pixels[..., 0] == pixels[..., 2]).all(), path.name
    assert grayscale > 0
