"""Grad-CAM against references computed another way, and heatmaps that point at the evidence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from resnet_desktop.core.explain import (
    ExplainError,
    class_index,
    explain_file,
    explain_image,
    grad_cam,
    heatmap_at,
)
from resnet_desktop.core.networks import build_network
from resnet_desktop.core.zoo import SPECS, Preprocess, get_spec
from tests.helpers import COLOURS, colour_model


class TinyNet(nn.Module):
    """conv-relu-conv-relu, then a small MLP on the pooled map: Grad-CAM is not plain CAM."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(8 * 4 * 4, 16), nn.Tanh(), nn.Linear(16, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = nn.functional.adaptive_avg_pool2d(self.body(self.stem(x)), 4)
        return self.head(pooled.flatten(1))


def reference_grad_cam(network: nn.Module, inputs: torch.Tensor, layer: str, index: int):
    """Grad-CAM as the paper writes it: a full backward pass, gradients kept on the layer."""
    kept = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        kept["activation"] = output

    handle = network.get_submodule(layer).register_forward_hook(keep)
    network(inputs)[0, index].backward()
    handle.remove()
    activation = kept["activation"]
    weights = activation.grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activation).sum(dim=1))[0].detach()
    return (cam / cam.max()).numpy()


def test_grad_cam_matches_a_full_backward_pass_on_a_tiny_net():
    torch.manual_seed(0)
    network = TinyNet().eval()
    inputs = torch.randn(1, 3, 16, 16)
    cams = {target: grad_cam(network, inputs, "body", target) for target in (None, 0, 3)}
    assert all(p.grad is None for p in network.parameters())  # the network is left untouched
    for target, cam in cams.items():
        index = int(network(inputs).argmax()) if target is None else target
        assert cam.class_index == index
        np.testing.assert_allclose(
            cam.map, reference_grad_cam(network, inputs, "body", index), atol=1e-5
        )


def test_grad_cam_of_a_pooled_linear_head_is_the_classifier_weights_map():
    """CAM (Zhou et al.): for GAP + linear, Grad-CAM is the head's weights at each position."""
    torch.manual_seed(1)
    spec = get_spec("cifar_resnet20")
    network = build_network(spec).eval()
    inputs = torch.randn(1, 3, 32, 32)
    activation = {}
    network.layer3.register_forward_hook(lambda _m, _i, out: activation.update(map=out))
    with torch.no_grad():
        probabilities = torch.softmax(network(inputs), dim=1)[0].numpy()
    for index in (2, 7):
        cam = grad_cam(network, inputs, spec.cam_layer, index)
        weights = network.linear.weight[index].detach().view(1, -1, 1, 1)
        expected = torch.relu((weights * activation["map"]).sum(dim=1))[0]
        np.testing.assert_allclose(cam.map, (expected / expected.max()).numpy(), atol=1e-5)
        np.testing.assert_allclose(cam.probabilities, probabilities, atol=1e-6)


@pytest.mark.parametrize("name", list(SPECS))
def test_every_architecture_names_a_spatial_target_layer(name):
    """Checked on the meta device: shapes only, so the whole zoo takes a moment."""
    spec = get_spec(name)
    with torch.device("meta"):
        network = build_network(spec).eval()
    shapes = []
    network.get_submodule(spec.cam_layer).register_forward_hook(
        lambda _m, _i, out: shapes.append(out.shape)
    )
    network(torch.empty(1, 3, spec.preprocess.crop, spec.preprocess.crop, device="meta"))
    assert len(shapes) == 1 and len(shapes[0]) == 4 and min(shapes[0][2:]) >= 2


@pytest.mark.parametrize("name", ["resnet18", "densenet121"])  # DenseNet's ReLU is in-place
def test_grad_cam_runs_on_each_family_of_the_zoo(name):
    torch.manual_seed(0)
    spec = get_spec(name)
    network = build_network(spec, num_classes=3).eval()
    cam = grad_cam(network, torch.randn(1, 3, 64, 64), spec.cam_layer, None)
    assert cam.map.shape == (2, 2)
    assert cam.map.max() == pytest.approx(1.0) and cam.map.min() >= 0.0
    assert cam.probabilities.shape == (3,) and cam.probabilities.sum() == pytest.approx(1.0)


def half_and_half(left: str, right: str, size=(64, 48)) -> Image.Image:
    pixels = np.empty((size[1], size[0], 3), dtype=np.uint8)
    pixels[:, : size[0] // 2] = COLOURS[left]
    pixels[:, size[0] // 2 :] = COLOURS[right]
    return Image.fromarray(pixels)


def test_the_heatmap_of_a_colour_lies_on_that_colour():
    model = colour_model()
    image = half_and_half("red", "blue")
    middle = image.width // 2
    left, right = np.s_[:, :middle], np.s_[:, middle:]
    for label, hot, cold in (("red", left, right), ("blue", right, left)):
        explanation = explain_image(model, image, label)
        assert explanation.label == label
        assert explanation.class_index == model.class_names.index(label)
        assert explanation.heatmap.shape == (image.height, image.width)
        assert explanation.heatmap[hot].mean() > 0.8
        assert explanation.heatmap[cold].mean() < 0.1
        assert explanation.overlay.size == image.size


def test_the_top_1_is_explained_by_default(tmp_path):
    model = colour_model()
    path = tmp_path / "mostly-green.png"
    image = half_and_half("green", "green")
    image.paste(COLOURS["red"], (0, 0, 10, 10))
    image.save(path)
    explanation = explain_file(model, path)
    assert explanation.label == "green"
    assert explanation.probability > 0.5
    assert explanation.heatmap[:10, :10].mean() < explanation.heatmap[20:, 20:].mean()


def test_the_heatmap_covers_only_the_centre_crop_the_network_saw():
    crop = Preprocess(crop=4, resize=4)  # a 400x200 image: the network sees the middle square
    heatmap = heatmap_at(np.ones((2, 2), dtype=np.float32), (400, 200), (200, 100), crop)
    assert heatmap.shape == (100, 200)
    assert heatmap[:, 50:150].min() == pytest.approx(1.0)
    assert heatmap[:, :50].max() == 0.0 and heatmap[:, 150:].max() == 0.0


def test_the_overlay_is_dimmed_outside_the_crop_and_coloured_where_hot():
    model = colour_model()
    wide = Image.new("RGB", (90, 30), (200, 200, 200))
    centred = type(model)(**{**vars(model), "preprocess": Preprocess(crop=32, resize=32)})
    overlay = np.asarray(explain_image(centred, wide).overlay, dtype=int)
    grey = np.asarray(wide, dtype=int)
    assert (overlay[:, :20] < grey[:, :20]).all()  # outside the centred 30x30 square
    assert not np.array_equal(overlay[:, 40:50], grey[:, 40:50])  # the heat is coloured in


def test_a_class_is_found_by_label_or_index_and_refused_otherwise():
    names = ["cat", "dog"]
    assert class_index("dog", names) == 1
    assert class_index(0, names) == 0
    assert class_index(None, names) is None
    with pytest.raises(ExplainError, match=r"no class 'bird'.*cat, dog"):
        class_index("bird", names)
    with pytest.raises(ExplainError, match="out of range"):
        class_index(2, names)


def test_the_overlay_of_a_jpeg_is_drawn_at_its_own_size_not_the_networks(tmp_path):
    """The network's decode of a large JPEG is reduced (1/8 here); the overlay is not."""
    path = tmp_path / "large.jpg"
    half_and_half("red", "blue", size=(800, 600)).save(path, quality=95)
    explanation = explain_file(colour_model(), path, "red")
    assert explanation.overlay.size == (800, 600) and explanation.heatmap.shape == (600, 800)
    assert explanation.heatmap[:, :380].mean() > 0.8 and explanation.heatmap[:, 420:].mean() < 0.1
    small = explain_file(colour_model(), path, "red", max_side=200)
    assert small.overlay.size == (200, 150)
