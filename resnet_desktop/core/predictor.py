"""Batch prediction: a generator of results that the CLI and the GUI both consume.

Decoding runs in a thread pool that works a few batches ahead of the network, so on a
GPU the model never waits for images and on a CPU both stages keep every core busy
(Pillow and torch release the GIL in their heavy loops). Each file is decoded inside
its own error boundary: a broken image becomes one error row, never a failed batch.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_desktop.core import gpu_decode, imaging
from resnet_desktop.core.device import Normalizer, OptionError, autocast
from resnet_desktop.core.errors import REMEDY_ENGINE_TORCH
from resnet_desktop.core.model_loader import LoadedModel
from resnet_desktop.core.ood import OodScorer, logits_and_features
from resnet_desktop.core.prefetch import batches_ahead
from resnet_desktop.core.runtime import ResolvedRuntime
from resnet_desktop.core.zoo import Preprocess

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """The top-k of one image, or why it has none (``error``)."""

    path: Path
    labels: tuple[str, ...] = ()
    probs: tuple[float, ...] = ()
    indices: tuple[int, ...] = ()
    error: str | None = None
    ood_score: float | None = None  # higher: more like the training images (core.ood)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class BatchResult:
    predictions: list[Prediction]
    done: int  # images finished so far, this batch included
    total: int
    elapsed: float  # seconds since the run started

    @property
    def images_per_second(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        rate = self.images_per_second
        return (self.total - self.done) / rate if rate > 0 else None


def decode_or_reason(path: Path, preprocess: Preprocess) -> np.ndarray | str:
    """The network input for ``path``, or a one-line reason why there is none."""
    return imaging.array_or_reason(lambda: imaging.load_input(path, preprocess), path)


class Predictor:
    """Runs one loaded model over lists of image paths.

    Args:
        model: the network and its class names and preprocessing.
        runtime: device, precision, engine and batch size, resolved for ``model``. The
            OpenVINO engine falls back to PyTorch when it cannot compile the model,
            unless the user named it; :attr:`runtime` then says PyTorch.
        top_k: how many classes to report per image.
        decode_workers: decoding threads; by default one per CPU core.
        prefetch_batches: batches decoded ahead while the network runs. By default 2
            on a GPU; 0 on the CPU, where decoding and the network share the cores:
            overlapping them only makes torch's threads wait for preempted peers, while
            decoding each batch with every core and then running it reaches the bound.
        device_decode: decode JPEGs on the device in batches (:mod:`gpu_decode`); by
            default on CUDA when torchvision can (nvJPEG), never elsewhere.
        notify: called with one-line messages about slow set-up or a change of engine.
        should_stop: polled during slow set-up (a first OpenVINO conversion); when it
            says stop, set-up ends at once with the PyTorch engine, ready for a run that
            the caller will not start.
        ood: scores each image's likeness to the training images (``ood_score``). A
            method that needs the penultimate features runs OpenVINO on the network
            without its head and the head in PyTorch; without ``ood`` nothing changes.

    int8 needs a quantised network: cached, or made by :meth:`calibrate`, which
    :meth:`predict_iter` calls with its paths (NNCF calibrates on the user's images).
    """

    def __init__(
        self,
        model: LoadedModel,
        runtime: ResolvedRuntime,
        *,
        top_k: int = 5,
        decode_workers: int | None = None,
        prefetch_batches: int | None = None,
        device_decode: bool | None = None,
        notify: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        ood: OodScorer | None = None,
    ) -> None:
        import torch

        self.model = model
        self.runtime = runtime
        self.device = torch.device(runtime.device)
        self._notify = notify  # also for a later int8 quantisation
        self.ood = ood
        self._head = self._features_head()
        self._openvino = self._compile_openvino(notify, should_stop)
        self.batch_size = runtime.batch_size  # halved after running out of GPU memory
        self.top_k = max(1, min(top_k, len(model.class_names)))
        self.decode_workers = decode_workers or max(1, min(16, os.cpu_count() or 1))
        if prefetch_batches is None:
            prefetch_batches = 0 if self.device.type == "cpu" else 2
        self.prefetch_batches = prefetch_batches
        if device_decode is None:
            device_decode = self.device.type == "cuda" and gpu_decode.available(self.device)
        self.device_decode = device_decode
        self.network = model.network.to(self.device, memory_format=torch.channels_last).eval()
        self._normalize = Normalizer(model.preprocess.mean, model.preprocess.std, self.device)

    def _features_head(self) -> nn.Linear | None:
        """The head, when the OOD method needs its inputs; None otherwise."""
        if self.ood is None or not self.ood.needs_features:
            return None
        from resnet_desktop.core.networks import head_of

        head = head_of(self.model.network, self.model.spec)
        if head.in_features != self.ood.width:  # the user's file: classify without it
            message = (
                f"{self.model.name} cannot say 'unknown' this time (its feature bank holds "
                f"{self.ood.width} values per image, the network gives {head.in_features}); "
                "it classifies as before"
            )
            logger.warning(message)
            if self._notify:
                self._notify(message)
            self.ood = None
            return None
        return head

    def _engine_model(self) -> LoadedModel:
        """What OpenVINO runs: the whole network, or without its head for the features."""
        if self._head is None:
            return self.model
        from resnet_desktop.core.networks import headless_copy

        network = headless_copy(self.model.network, self.model.spec)
        return LoadedModel(self.model.name, self.model.spec, network, [], self.model.preprocess)

    def _compile_openvino(
        self,
        notify: Callable[[str], None] | None,
        should_stop: Callable[[], bool] | None,
        calibration: list[np.ndarray] | None = None,
    ):
        """The OpenVINO network when that is the engine; ``auto`` falls back to PyTorch.

        None for int8 until it is quantised (stopped, or no calibration images yet).
        """
        if self.runtime.engine != "openvino":
            return None
        from resnet_desktop.core import openvino_engine as engine

        precision = self.runtime.precision
        try:
            model = self._engine_model()
            return engine.OpenVinoNetwork(model, precision, notify, should_stop, calibration)
        except engine.CalibrationNeeded:
            return None
        except engine.ConversionStopped:
            if precision != "int8":
                self._fall_back_to_pytorch("the conversion was stopped")
            return None
        except Exception as error:  # any failure means: run it in PyTorch, or say why not
            reason = f"OpenVINO could not compile {self.model.name} ({error})"
            if self.runtime.engine_named:
                raise OptionError(reason, remedy=REMEDY_ENGINE_TORCH) from error
            logger.warning("%s; running it in PyTorch", reason, exc_info=error)
            if notify:
                notify(f"{reason}; running it in PyTorch")
            self._fall_back_to_pytorch("OpenVINO could not compile the model")
            return None

    def _fall_back_to_pytorch(self, why: str) -> None:
        reason = f"{self.runtime.reason}; then PyTorch: {why}"
        self.runtime = dataclasses.replace(self.runtime, engine="torch", reason=reason)

    @property
    def needs_calibration(self) -> bool:
        """Whether int8 waits for :meth:`calibrate` (no quantised network is cached)."""
        return self.runtime.precision == "int8" and self._openvino is None

    def calibrate(self, paths: Sequence[Path], should_stop: Callable[[], bool] | None = None):
        """Quantise to int8 on a sample of ``paths`` when :attr:`needs_calibration`.

        The sample is spread over the whole list, whose folders are often one class each;
        files that fail to decode are left out. A stop leaves it uncalibrated.
        """
        if not (self.needs_calibration and paths):
            return
        from resnet_desktop.core.openvino_engine import CALIBRATION_IMAGES

        sample = list(paths)[:: max(1, len(paths) // CALIBRATION_IMAGES)][:CALIBRATION_IMAGES]
        with ThreadPoolExecutor(self.decode_workers, thread_name_prefix="decode") as pool:
            decoded = pool.map(lambda p: decode_or_reason(Path(p), self.model.preprocess), sample)
            images = [item[None] for item in decoded if not isinstance(item, str)]
        if not images:
            raise OptionError("int8 calibrates on your images, and none of them could be read")
        self._openvino = self._compile_openvino(self._notify, should_stop, images)

    def predict_iter(
        self, paths: Sequence[Path], should_stop: Callable[[], bool] | None = None
    ) -> Iterator[BatchResult]:
        """Yield one BatchResult per batch, in the order of ``paths``, until done or stopped."""
        paths = [Path(p) for p in paths]
        stop = should_stop or (lambda: False)
        self.calibrate(paths, should_stop)
        if self.needs_calibration:  # stopped while quantising
            return
        start = time.perf_counter()
        done = 0
        with ThreadPoolExecutor(self.decode_workers, thread_name_prefix="decode") as pool:
            try:
                for chunk, decoded in self.decoded_batches(pool, paths, stop):
                    predictions = self.predict_decoded(chunk, decoded)
                    done += len(chunk)
                    yield BatchResult(predictions, done, len(paths), time.perf_counter() - start)
                    if stop():
                        break
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def predict_inputs(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k probabilities and indices (on the CPU) for a uint8 NHWC batch."""
        top_p, top_i, _ = self.scored_inputs(inputs)
        return top_p, top_i

    def scored_inputs(
        self, inputs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
        """:meth:`predict_inputs` and the OOD scores (None without ``ood``).

        After an out-of-memory the batch size is halved for the rest of the run; batches
        decoded before that, at the old size, run in parts of the new one.
        """
        import torch

        if len(inputs) > self.batch_size:
            parts = [self.scored_inputs(part) for part in inputs.split(self.batch_size)]
            return (
                torch.cat([p[0] for p in parts]),
                torch.cat([p[1] for p in parts]),
                None if self.ood is None else _concatenated([p[2] for p in parts]),
            )
        try:
            with torch.inference_mode():
                logits, features = self._outputs(inputs)
                top_p, top_i = logits.softmax(dim=1).topk(self.top_k, dim=1)
                scores = self._scores(logits, features)
            return top_p.cpu(), top_i.cpu(), scores
        except torch.OutOfMemoryError:
            if len(inputs) == 1:
                raise
            torch.cuda.empty_cache()
            self.batch_size = max(1, len(inputs) // 2)
            return self.scored_inputs(inputs)

    def _outputs(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The logits, and the head's inputs when the OOD method needs them."""
        if self._head is None:
            return self._logits(inputs), None
        if self._openvino is not None:
            features = self._openvino(inputs).to(self._head.weight.device)
            return self._head(features.float()), features
        if self.needs_calibration:
            raise RuntimeError("int8 has no quantised network yet: call calibrate(paths) first")
        with autocast(self.device, self.runtime.precision):
            logits, features = logits_and_features(
                self.network, self._head, self._normalize(inputs)
            )
        return logits.float(), features.float()

    def _scores(self, logits: torch.Tensor, features: torch.Tensor | None) -> np.ndarray | None:
        if self.ood is None:
            return None
        values = None if features is None else features.cpu().numpy()
        return self.ood.scores(logits.cpu().numpy(), values)

    def _logits(self, inputs: torch.Tensor) -> torch.Tensor:
        if self._openvino is not None:
            return self._openvino(inputs)
        if self.needs_calibration:
            raise RuntimeError("int8 has no quantised network yet: call calibrate(paths) first")
        with autocast(self.device, self.runtime.precision):
            return self.network(self._normalize(inputs)).float()

    def decoded_batches(
        self, pool: ThreadPoolExecutor, paths: list[Path], stop: Callable[[], bool]
    ) -> Iterator[tuple[list[Path], list[gpu_decode.Decoded]]]:
        """Batches of network inputs (or reasons), with ``prefetch_batches`` more in flight.

        With :attr:`device_decode` the threads read files and the batch is decoded on
        the device here; its inputs are tensors there, the CPU's fallbacks arrays.
        """
        preprocess = self.model.preprocess
        decode = self._prepare if self.device_decode else decode_or_reason
        calls = [functools.partial(decode, path, preprocess) for path in paths]
        batches = batches_ahead(pool, calls, self.batch_size, self.prefetch_batches, stop)
        for start, decoded in batches:  # self.batch_size may shrink meanwhile (out of memory)
            if self.device_decode:
                decoded = gpu_decode.decode_batch(
                    decoded, preprocess, self.device, decode_or_reason
                )
            yield paths[start : start + len(decoded)], decoded

    @staticmethod
    def _prepare(path: Path, preprocess: Preprocess) -> gpu_decode.Prepared:
        return gpu_decode.prepare(path, preprocess, decode_or_reason)

    def _stack(self, inputs: list[np.ndarray | torch.Tensor]) -> torch.Tensor:
        """One uint8 NHWC batch; from the CPU pinned, for an asynchronous copy to CUDA."""
        import numpy as np
        import torch

        if any(isinstance(item, torch.Tensor) for item in inputs):  # decoded on the device
            return torch.stack([torch.as_tensor(item, device=self.device) for item in inputs])
        batch = torch.from_numpy(np.stack(inputs))
        return batch.pin_memory() if self.device.type == "cuda" else batch

    def predict_decoded(
        self, chunk: list[Path], decoded: list[gpu_decode.Decoded]
    ) -> list[Prediction]:
        """The predictions for a batch of decoded inputs, or reasons (their error rows)."""
        results = [
            Prediction(path, error=item if isinstance(item, str) else None)
            for path, item in zip(chunk, decoded, strict=True)
        ]
        good = [i for i, item in enumerate(decoded) if not isinstance(item, str)]
        inputs = [item for item in decoded if not isinstance(item, str)]
        if not inputs:
            return results
        top_p, top_i, scores = self.scored_inputs(self._stack(inputs))
        names = self.model.class_names
        for row, i in enumerate(good):
            indices = tuple(int(k) for k in top_i[row])
            results[i] = Prediction(
                chunk[i],
                labels=tuple(names[k] for k in indices),
                probs=tuple(float(p) for p in top_p[row]),
                indices=indices,
                ood_score=None if scores is None else float(scores[row]),
            )
        return results


def _concatenated(parts: list[np.ndarray | None]) -> np.ndarray:
    import numpy as np

    return np.concatenate([part for part in parts if part is not None])
