"""Decoding on the device in batches, tested on the CPU: torchvision decodes JPEGs there with
the same call nvJPEG answers on CUDA, and a spy stands in where a GPU would refuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_desktop.core import gpu_decode
from resnet_desktop.core.predictor import Predictor, decode_or_reason
from resnet_desktop.core.zoo import Preprocess
from tests.helpers import colour_model, resolved, write_colour_images

CPU = torch.device("cpu")
REFUSED = b"a JPEG nvJPEG refuses"
PHOTO = Preprocess(crop=32, resize=40)


def _gradient(width: int = 60, height: int = 45) -> Image.Image:
    """Red grows to the right, green downwards: every turn and flip looks different."""
    x = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, np.full_like(x, 90)], -1).astype(np.uint8))


def _jpeg(path: Path, orientation: int = 1, image: Image.Image | None = None) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    (image or _gradient()).save(path, "JPEG", quality=95, exif=exif)
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_device_inputs_match_the_cpu_path_in_every_exif_orientation(
    tmp_path: Path, orientation: int
):
    path = _jpeg(tmp_path / "photo.jpg", orientation)
    cpu = decode_or_reason(path, PHOTO)
    (device,) = gpu_decode.decode_batch(
        [gpu_decode.prepare(path, PHOTO, decode_or_reason)], PHOTO, CPU, decode_or_reason
    )
    assert isinstance(device, torch.Tensor) and device.shape == cpu.shape == (32, 32, 3)
    difference = np.abs(device.numpy().astype(int) - cpu.astype(int))
    assert difference.max() <= 3, f"orientation {orientation}: off by {difference.max()}"


def test_an_unscaled_input_is_resized_to_the_crop(tmp_path: Path):
    path = _jpeg(tmp_path / "photo.jpg")
    cifar = Preprocess(crop=32, resize=None)
    (device,) = gpu_decode.decode_batch(
        [gpu_decode.prepare(path, cifar, decode_or_reason)], cifar, CPU, decode_or_reason
    )
    assert np.abs(device.numpy().astype(int) - decode_or_reason(path, cifar)).max() <= 3


def _odd_files(folder: Path) -> list[Path]:
    """Files the device path must leave to the CPU path: each gives its own row there."""
    folder.mkdir()
    truncated = folder / "truncated.jpg"
    truncated.write_bytes(_jpeg(folder / "whole.jpg").read_bytes()[:-200])
    (folder / "whole.jpg").unlink()
    (folder / "not-a-jpeg.jpg").write_bytes(b"\xff\xd8\xff but then nonsense \xff\xd9")
    Image.new("CMYK", (20, 20), (0, 200, 200, 0)).save(folder / "cmyk.jpg", "JPEG")
    (folder / "empty.jpg").write_bytes(b"")
    return sorted(folder.iterdir())


def _rows(predictor: Predictor, paths: list[Path]) -> list[tuple]:
    return [
        (p.path.name, p.labels, p.error)
        for batch in predictor.predict_iter(paths)
        for p in batch.predictions
    ]


def _predictor(device_decode: bool, batch_size: int = 16) -> Predictor:
    model = colour_model()
    runtime = resolved(model, device="cpu", precision="fp32", engine="torch", batch_size=batch_size)
    return Predictor(model, runtime, top_k=1, device_decode=device_decode)


@pytest.fixture
def decode_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the batched decoder's calls, which refuse the bytes REFUSED."""
    calls: list[int] = []
    real = gpu_decode.decode_jpegs

    def spy(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
        calls.append(len(data))
        if any(bytes(tensor.tolist()) == REFUSED for tensor in data):
            raise RuntimeError("nvjpeg: unsupported JPEG")
        return real(data, device)

    monkeypatch.setattr(gpu_decode, "decode_jpegs", spy)
    return calls


def test_jpegs_decode_in_one_call_per_batch_and_other_files_on_the_cpu_with_the_same_rows(
    tmp_path: Path, decode_calls: list[int]
):
    photos = write_colour_images(tmp_path / "photos", per_colour=3, fmt="JPEG")
    pngs = write_colour_images(tmp_path / "pngs", per_colour=1)
    paths = [*photos, *pngs, *_odd_files(tmp_path / "odd")]
    on_device = _predictor(device_decode=True, batch_size=8)
    assert _rows(on_device, paths) == _rows(_predictor(device_decode=False), paths)
    assert decode_calls == [8, 1]  # 9 photos in batches of 8; no other file reached it


def test_a_file_the_gpu_refuses_is_decoded_on_the_cpu_and_the_rest_of_its_batch_on_the_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decode_calls: list[int]
):
    photos = write_colour_images(tmp_path, per_colour=2, fmt="JPEG")
    refused = photos[2]
    real_read = gpu_decode.read_jpeg

    def read(path: Path):
        jpeg = real_read(path)
        if path == refused and jpeg is not None:  # the bytes the spy refuses
            jpeg = gpu_decode.EncodedJpeg(path, torch.tensor(list(REFUSED), dtype=torch.uint8), 1)
        return jpeg

    monkeypatch.setattr(gpu_decode, "read_jpeg", read)
    rows = _rows(_predictor(device_decode=True), photos)
    assert rows == _rows(_predictor(device_decode=False), photos)
    assert decode_calls == [6, 1, 1, 1, 1, 1, 1]  # the batch, then each alone


def test_the_device_path_is_chosen_on_cuda_only_and_only_where_it_decodes(
    monkeypatch: pytest.MonkeyPatch,
):
    assert not _predictor(device_decode=None).device_decode  # the CPU
    assert gpu_decode.available(CPU)  # torchvision decodes there: the probe itself works

    def refuse(data, device):
        raise RuntimeError("torchvision was built without nvjpeg")

    monkeypatch.setattr(gpu_decode, "decode_jpegs", refuse)
    assert not gpu_decode.available(CPU)


def test_read_jpeg_leaves_large_and_odd_files_to_the_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    photo = _jpeg(tmp_path / "photo.jpg", orientation=6)
    assert gpu_decode.read_jpeg(photo).orientation == 6
    monkeypatch.setattr(gpu_decode, "MAX_FILE_BYTES", photo.stat().st_size - 1)
    assert gpu_decode.read_jpeg(photo) is None
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    monkeypatch.setattr(gpu_decode, "MAX_FILE_BYTES", 10**9)
    assert gpu_decode.read_jpeg(photo) is None
    assert gpu_decode.read_jpeg(tmp_path / "missing.jpg") is None
