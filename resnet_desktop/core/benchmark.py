"""Throughput of each prediction stage, to see which one limits a run and by how much.

Decoding and the network are measured alone and then together. When both share the CPU
the best a pipeline can do is ``1 / (1/decode + 1/model)``; when the network runs on a
GPU the stages overlap and the bound is ``min(decode, model)``. The efficiency is the
end-to-end rate over that bound. ``tutorial_loop`` is the loop the tutorials teach
(PIL + torchvision transforms, batches of 8, fp32, one thread), for comparison.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from resnet_desktop.core.predictor import Predictor


@dataclass(frozen=True)
class StageRate:
    name: str
    images: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


def pipeline_bound(decode: float, model: float, shared_cpu: bool) -> float:
    """The best end-to-end rate the two stages allow."""
    if decode <= 0 or model <= 0:
        return 0.0
    return 1.0 / (1.0 / decode + 1.0 / model) if shared_cpu else min(decode, model)


def _timed(name: str, images: int, work: Callable[[], object]) -> StageRate:
    start = time.perf_counter()
    work()
    return StageRate(name, images, time.perf_counter() - start)


def measure_decode(predictor: Predictor, paths: Sequence[Path]) -> StageRate:
    """Network inputs per second, decoded as the predictor decodes (threads; on CUDA, the
    GPU's batches)."""

    def work() -> None:
        with ThreadPoolExecutor(predictor.decode_workers) as pool:
            for _ in predictor.decoded_batches(pool, list(paths), lambda: False):
                pass
        _synchronize(predictor)

    return _timed("decode", len(paths), work)


def measure_model(predictor: Predictor, batches: int) -> StageRate:
    """Images per second through the network alone, on synthetic uint8 inputs."""
    import torch

    size = predictor.model.preprocess.crop
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randint(
        0, 256, (predictor.batch_size, size, size, 3), dtype=torch.uint8, generator=generator
    )
    predictor.predict_inputs(inputs)  # warm-up: kernels, allocator, autotuning
    _synchronize(predictor)

    def work() -> None:
        for _ in range(batches):
            predictor.predict_inputs(inputs)
        _synchronize(predictor)

    return _timed("model", batches * predictor.batch_size, work)


def measure_end_to_end(predictor: Predictor, paths: Sequence[Path]) -> StageRate:
    def work() -> None:
        for _ in predictor.predict_iter(paths):
            pass

    return _timed("end-to-end", len(paths), work)


def tutorial_loop(predictor: Predictor, paths: Sequence[Path], batch_size: int = 8) -> StageRate:
    """The tutorials' loop: PIL + transforms, fp32, decode then infer, one thread."""
    import torch
    from PIL import Image
    from torchvision import transforms

    pre = predictor.model.preprocess
    resize = [transforms.Resize(pre.resize)] if pre.resize else [transforms.Resize((pre.crop,) * 2)]
    transform = transforms.Compose(
        [*resize, transforms.CenterCrop(pre.crop), transforms.ToTensor(),
         transforms.Normalize(pre.mean, pre.std)]
    )  # fmt: skip
    network = predictor.network.to(memory_format=torch.contiguous_format)

    def work() -> None:
        with torch.no_grad():
            for begin in range(0, len(paths), batch_size):
                chunk = paths[begin : begin + batch_size]
                batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in chunk])
                network(batch.to(predictor.device)).softmax(dim=1).topk(5)
        _synchronize(predictor)

    try:
        return _timed("tutorial loop", len(paths), work)
    finally:
        network.to(memory_format=torch.channels_last)


def _synchronize(predictor: Predictor) -> None:
    import torch

    if predictor.device.type == "cuda":
        torch.cuda.synchronize()
