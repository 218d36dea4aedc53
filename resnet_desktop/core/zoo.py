"""The model table: one declarative entry per architecture the app knows.

Everything that differs between architectures lives here and nowhere else: how to build
the network, which pretrained weights it has (and the file name they are cached under),
how images are preprocessed for it, and which attribute holds its classifier head. The
table is plain data so the GUI can list models before torch is imported; building a
network from an entry is :mod:`resnet_desktop.core.networks`' job.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes the network's input.

    ``resize`` is the length the shorter side is scaled to before the centre crop of
    ``crop`` pixels; ``None`` means the image is scaled straight to ``crop`` x ``crop``
    (the CIFAR networks, whose 32x32 inputs are whole images). Pixels are scaled to
    [0, 1] and normalised with ``mean`` and ``std``.
    """

    crop: int
    resize: int | None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        return cls(
            crop=int(data["crop"]),
            resize=None if data.get("resize") is None else int(data["resize"]),
            mean=tuple(float(v) for v in data.get("mean", IMAGENET_MEAN)),  # type: ignore[arg-type]
            std=tuple(float(v) for v in data.get("std", IMAGENET_STD)),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class ModelSpec:
    """One architecture of the zoo.

    Attributes:
        name: the name used on the command line and in the library's metadata.
        title: what the model selector shows.
        builder: ``module:function`` that builds the network given ``num_classes``.
        head: attribute of the built network that holds the final ``nn.Linear``.
        last_stage: the modules (dotted names) that fine-tuning's ``last`` strategy
            trains together with the head.
        cam_layer: the module (dotted name) whose activations class-activation maps are
            computed from: the last one with a spatial map, just before the pooling.
        num_classes: classes of the pretrained head.
        preprocess: input preprocessing of the pretrained weights.
        weights: torchvision weights enum member (``"ResNet50_Weights.IMAGENET1K_V2"``),
            or ``None`` when there are no built-in pretrained weights.
        weights_file: the file name torchvision caches those weights under, so the app
            can tell whether they are present without importing torch.
    """

    name: str
    title: str
    builder: str
    head: str
    last_stage: tuple[str, ...]
    cam_layer: str
    num_classes: int
    preprocess: Preprocess
    weights: str | None = None
    weights_file: str | None = None

    @property
    def has_builtin_weights(self) -> bool:
        return self.weights is not None


_IMAGENET_224 = Preprocess(crop=224, resize=256)
_IMAGENET_V2 = Preprocess(crop=224, resize=232)
_CIFAR = Preprocess(crop=32, resize=None)


_RESNET_LAST = ("layer4",)
_DENSENET_LAST = ("features.denseblock4", "features.norm5")


def _torchvision(
    name: str, title: str, head: str, weights: str, weights_file: str, preprocess: Preprocess
) -> ModelSpec:
    return ModelSpec(
        name=name,
        title=title,
        builder=f"torchvision.models:{name}",
        head=head,
        last_stage=_RESNET_LAST if head == "fc" else _DENSENET_LAST,
        cam_layer="layer4" if head == "fc" else "features",
        num_classes=1000,
        preprocess=preprocess,
        weights=weights,
        weights_file=weights_file,
    )


def _cifar(depth: int) -> ModelSpec:
    return ModelSpec(
        name=f"cifar_resnet{depth}",
        title=f"CIFAR ResNet-{depth} (32x32)",
        builder=f"resnet_desktop.core.cifar_resnet:cifar_resnet{depth}",
        head="linear",
        last_stage=("layer3",),
        cam_layer="layer3",
        num_classes=10,
        preprocess=_CIFAR,
    )


# fmt: off
SPECS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    _torchvision("resnet18", "ResNet-18", "fc", "ResNet18_Weights.IMAGENET1K_V1",
                 "resnet18-f37072fd.pth", _IMAGENET_224),
    _torchvision("resnet34", "ResNet-34", "fc", "ResNet34_Weights.IMAGENET1K_V1",
                 "resnet34-b627a593.pth", _IMAGENET_224),
    _torchvision("resnet50", "ResNet-50", "fc", "ResNet50_Weights.IMAGENET1K_V2",
                 "resnet50-11ad3fa6.pth", _IMAGENET_V2),
    _torchvision("resnet101", "ResNet-101", "fc", "ResNet101_Weights.IMAGENET1K_V2",
                 "resnet101-cd907fc2.pth", _IMAGENET_V2),
    _torchvision("resnet152", "ResNet-152", "fc", "ResNet152_Weights.IMAGENET1K_V2",
                 "resnet152-f82ba261.pth", _IMAGENET_V2),
    _torchvision("densenet121", "DenseNet-121", "classifier", "DenseNet121_Weights.IMAGENET1K_V1",
                 "densenet121-a639ec97.pth", _IMAGENET_224),
    _torchvision("densenet161", "DenseNet-161", "classifier", "DenseNet161_Weights.IMAGENET1K_V1",
                 "densenet161-8d451a50.pth", _IMAGENET_224),
    _torchvision("densenet169", "DenseNet-169", "classifier", "DenseNet169_Weights.IMAGENET1K_V1",
                 "densenet169-b2777c0a.pth", _IMAGENET_224),
    _torchvision("densenet201", "DenseNet-201", "classifier", "DenseNet201_Weights.IMAGENET1K_V1",
                 "densenet201-c1103571.pth", _IMAGENET_224),
    *(_cifar(depth) for depth in (20, 32, 44, 56, 110)),
)}
# fmt: on


def get_spec(name: str) -> ModelSpec:
    """The zoo entry called ``name``; ``KeyError`` with the known names otherwise."""
    try:
        return SPECS[name]
    except KeyError:
        known = ", ".join(SPECS)
        raise KeyError(f"unknown architecture {name!r}; known: {known}") from None
