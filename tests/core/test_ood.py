"""Out-of-distribution scores, threshold, AUROC, the stored setup and the feature bank."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from resnet_desktop.core import ood
from resnet_desktop.core.ood import OodError, OodSetup

RNG_SEED = 7


def rng() -> np.random.Generator:
    return np.random.default_rng(RNG_SEED)


# ------------------------------------------------------------------------- logit scores


def test_msp_of_uniform_logits_is_one_over_the_classes_and_ignores_a_shift():
    assert ood.msp(np.zeros((2, 4))) == pytest.approx([0.25, 0.25])
    logits = rng().normal(size=(5, 3))
    assert ood.msp(logits + 100.0) == pytest.approx(ood.msp(logits))
    expected = np.exp(logits).max(1) / np.exp(logits).sum(1)
    assert ood.msp(logits) == pytest.approx(expected)


def test_logit_scores_do_not_overflow_on_huge_logits():
    logits = np.array([[1000.0, 0.0], [1000.0, 1000.0]])
    assert ood.msp(logits) == pytest.approx([1.0, 0.5])
    assert ood.energy(logits) == pytest.approx([1000.0, 1000.0 + math.log(2)])


def test_energy_is_logsumexp_and_orders_confidence():
    logits = rng().normal(size=(6, 4))
    assert ood.energy(logits) == pytest.approx(np.log(np.exp(logits).sum(1)))
    assert (ood.energy(logits) >= ood.max_logit(logits)).all()
    assert ood.energy(np.zeros((1, 4))) == pytest.approx([math.log(4)])
    # a larger logit anywhere means a larger score (more in-distribution)
    raised = logits.copy()
    raised[:, 2] += 1.0
    assert (ood.energy(raised) > ood.energy(logits)).all()


def test_max_logit_is_the_row_maximum():
    logits = np.array([[1.0, 5.0, -2.0], [0.5, 0.25, 0.75]])
    assert list(ood.max_logit(logits)) == [5.0, 0.75]


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros((2, 0)), np.zeros((1, 2, 3))])
def test_scores_refuse_anything_but_a_matrix(bad):
    with pytest.raises(OodError, match="2-D"):
        ood.msp(bad)


# ------------------------------------------------------------------------- kNN


def test_knn_distance_to_a_point_in_the_bank_is_zero_and_scale_does_not_matter():
    bank = rng().normal(size=(20, 8)).astype(np.float32)
    scores = ood.knn_score(bank[:5] * 3.0, bank, k=1)
    assert scores == pytest.approx(np.zeros(5), abs=1e-3)
    assert (ood.knn_score(bank[:5], bank, k=2) < -1e-3).all()


def brute_force_knn(features: np.ndarray, bank: np.ndarray, k: int) -> np.ndarray:
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    rows = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    distances = np.linalg.norm(unit[:, None, :] - rows[None, :, :], axis=2)
    return -np.sort(distances, axis=1)[:, k - 1]


@pytest.mark.parametrize("k", [1, 3, 30])
def test_knn_matches_brute_force_also_when_computed_in_chunks(k, monkeypatch):
    generator = rng()
    features, bank = generator.normal(size=(11, 6)), generator.normal(size=(30, 6))
    expected = brute_force_knn(features, bank, k)
    assert ood.knn_score(features, bank, k) == pytest.approx(expected, abs=1e-5)
    monkeypatch.setattr(ood, "_SIMILARITY_CHUNK", 60)  # two query rows per chunk
    assert ood.knn_score(features, bank, k) == pytest.approx(expected, abs=1e-5)


def test_knn_refuses_a_k_the_bank_cannot_give_and_mismatched_widths():
    bank = np.ones((4, 3), dtype=np.float32)
    with pytest.raises(OodError, match="k must be between 1 and"):
        ood.knn_score(bank, bank, k=5)
    with pytest.raises(OodError, match="k must be between 1 and"):
        ood.knn_score(bank, bank, k=0)
    with pytest.raises(OodError, match="3 values, the bank 2"):
        ood.knn_score(bank, bank[:, :2], k=1)


def test_l2_normalise_gives_unit_rows_and_leaves_zero_rows_zero():
    rows = ood.l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert rows.dtype == np.float32
    assert rows.tolist() == [[pytest.approx(0.6), pytest.approx(0.8)], [0.0, 0.0]]


@pytest.mark.parametrize(
    ("counts", "k"), [([80, 80, 80], 20), ([40, 90], 10), ([16], 4), ([3, 50], 1), ([0, 1000], 50)]
)
def test_k_is_a_quarter_of_the_smallest_class_at_most_fifty(counts, k):
    assert ood.choose_k(counts) == k


def test_k_needs_a_training_image():
    with pytest.raises(OodError, match="at least one training image"):
        ood.choose_k([0, 0])


# ------------------------------------------------------------------------- AUROC


def pairwise_auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    wins = (inside[:, None] > outside[None, :]).sum() + 0.5 * (
        inside[:, None] == outside[None, :]
    ).sum()
    return float(wins / (inside.size * outside.size))


@pytest.mark.parametrize("seed", range(5))
def test_auroc_equals_the_pairwise_count_with_ties(seed):
    generator = np.random.default_rng(seed)
    inside = generator.integers(0, 6, size=37).astype(float)  # few values: many ties
    outside = generator.integers(-2, 4, size=23).astype(float)
    assert ood.auroc(inside, outside) == pytest.approx(pairwise_auroc(inside, outside))


def test_auroc_at_its_extremes():
    assert ood.auroc([2.0, 3.0], [0.0, 1.0]) == 1.0
    assert ood.auroc([0.0, 1.0], [2.0, 3.0]) == 0.0
    assert ood.auroc([1.0, 1.0], [1.0]) == 0.5
    with pytest.raises(OodError, match="at least one"):
        ood.auroc([], [1.0])


# ------------------------------------------------------------------------- threshold


@pytest.mark.parametrize("size", [1, 19, 20, 100, 1001])
def test_the_threshold_is_the_highest_score_that_accepts_95_percent(size):
    scores = rng().normal(size=size)
    threshold = ood.suggest_threshold(scores)
    assert threshold in scores
    assert (scores >= threshold).mean() >= 0.95
    higher = scores[scores > threshold]
    if higher.size:
        assert (scores >= higher.min()).mean() < 0.95


def test_the_threshold_with_ties_and_other_shares():
    assert ood.suggest_threshold(np.arange(1, 101)) == 6.0  # 95 of 100 are >= 6
    assert ood.suggest_threshold(np.arange(10), accept=0.9) == 1.0
    assert ood.suggest_threshold(np.array([1.0] * 10 + [2.0] * 90)) == 1.0  # 2.0 accepts 90 %
    assert ood.suggest_threshold(np.arange(10), accept=1.0) == 0.0


@pytest.mark.parametrize(
    ("scores", "accept"), [([], 0.95), ([1.0, math.nan], 0.95), ([1.0], 0.0), ([1.0], 1.5)]
)
def test_the_threshold_refuses_no_scores_nan_and_a_bad_share(scores, accept):
    with pytest.raises(OodError):
        ood.suggest_threshold(np.array(scores), accept)


# ------------------------------------------------------------------------- the setup


@pytest.mark.parametrize(
    "setup",
    [
        OodSetup("knn", -0.25, 10),
        OodSetup("msp", 0.5),
        OodSetup("energy", 3.25),
        OodSetup("max_logit", -4),
    ],
)
def test_the_setup_round_trips_through_json(setup):
    data = json.loads(json.dumps(setup.to_dict()))
    assert OodSetup.from_dict(data) == setup
    assert isinstance(OodSetup.from_dict(data).threshold, float)


def test_the_setup_ignores_unknown_keys():
    data = {"method": "knn", "threshold": -0.5, "k": 5, "added_later": [1, 2]}
    assert OodSetup.from_dict(data) == OodSetup("knn", -0.5, 5)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "JSON object"),
        ({"method": "knn", "k": 5}, "lacks threshold"),
        ({"method": "mahalanobis", "threshold": 0.0}, "unknown OOD method"),
        ({"method": ["knn"], "threshold": 0.0}, "unknown OOD method"),
        ({"method": "energy", "threshold": math.nan}, "must be a number"),
        ({"method": "energy", "threshold": math.inf}, "must be a number"),
        ({"method": "energy", "threshold": True}, "must be a number"),
        ({"method": "energy", "threshold": "0.5"}, "must be a number"),
        ({"method": "energy", "threshold": 1e7}, "must be in"),
        ({"method": "msp", "threshold": 1.5}, "must be in"),
        ({"method": "knn", "threshold": 0.5, "k": 5}, "must be in"),
        ({"method": "knn", "threshold": -2.5, "k": 5}, "must be in"),
        ({"method": "knn", "threshold": -0.5}, "k must be"),
        ({"method": "knn", "threshold": -0.5, "k": 0}, "k must be"),
        ({"method": "knn", "threshold": -0.5, "k": 5000}, "k must be"),
        ({"method": "knn", "threshold": -0.5, "k": 2.0}, "k must be"),
        ({"method": "knn", "threshold": -0.5, "k": True}, "k must be"),
        ({"method": "msp", "threshold": 0.5, "k": 5}, "knn method only"),
    ],
)
def test_the_setup_refuses_bad_metadata(data, message):
    with pytest.raises(OodError, match=message):
        OodSetup.from_dict(data)


def test_the_setup_scores_with_its_method_and_accepts_from_its_threshold():
    logits = np.array([[4.0, 0.0], [0.0, 0.0]])
    setup = OodSetup("msp", 0.6)
    assert setup.scores(logits, np.zeros((2, 3))) == pytest.approx(ood.msp(logits))
    assert setup.accepts(setup.scores(logits, np.zeros((2, 3)))).tolist() == [True, False]
    assert OodSetup("msp", 0.5).accepts(np.array([0.5])).tolist() == [True]  # at = accepted
    bank = np.eye(3, dtype=np.float32)
    knn = OodSetup("knn", -0.1, 1)
    assert knn.scores(logits, bank[:2], bank) == pytest.approx([0.0, 0.0], abs=1e-6)
    with pytest.raises(OodError, match="training features"):
        knn.scores(logits, bank[:2])


def test_knn_setup_thresholds_held_out_images_and_normalises_the_bank():
    generator = rng()
    train, val = generator.normal(size=(64, 5)), generator.normal(size=(40, 5))
    setup, bank = ood.knn_setup(train, val, [32, 32])
    assert (setup.method, setup.k) == ("knn", 8)
    assert np.linalg.norm(bank, axis=1) == pytest.approx(np.ones(64), abs=1e-6)
    accepted = setup.accepts(ood.knn_score(val, bank, 8)).mean()
    assert 0.95 <= accepted < 1.0


def test_knn_setup_keeps_k_within_a_small_bank():
    setup, _ = ood.knn_setup(np.eye(3), np.eye(3), [400])
    assert setup.k == 3


# ------------------------------------------------------------------------- the bank


def test_the_bank_round_trips_normalised(tmp_path: Path):
    features = rng().normal(size=(10, 4)) * 5.0
    path = tmp_path / "model.ood.safetensors"
    ood.save_bank(path, features)
    loaded = ood.load_bank(path)
    assert loaded.dtype == np.float32 and loaded.shape == (10, 4)
    assert loaded == pytest.approx(ood.l2_normalise(features))


def write_tensors(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    path.write_bytes(safetensors.numpy.save(tensors))
    return path


@pytest.mark.parametrize(
    ("tensors", "message"),
    [
        ({"features": np.ones((3, 2), dtype=np.float64)}, "float32 matrix"),
        ({"features": np.ones((3, 2), dtype=np.float16)}, "float32 matrix"),
        ({"features": np.ones(3, dtype=np.float32)}, "float32 matrix"),
        ({"features": np.ones((2, 2, 2), dtype=np.float32)}, "float32 matrix"),
        ({"features": np.ones((0, 2), dtype=np.float32)}, "at most"),
        ({"features": np.ones((2, 5000), dtype=np.float32)}, "at most"),
        ({"features": np.array([[1.0, math.nan]], dtype=np.float32)}, "NaN or infinity"),
        ({"features": np.array([[1.0, math.inf]], dtype=np.float32)}, "NaN or infinity"),
        ({"other": np.ones((3, 2), dtype=np.float32)}, "one tensor named"),
        (
            {"features": np.ones((3, 2), np.float32), "x": np.ones((1, 1), np.float32)},
            "one tensor named",
        ),
    ],
)
def test_the_bank_refuses_what_is_not_one_finite_float32_matrix(tmp_path, tensors, message):
    path = write_tensors(tmp_path / "bank.safetensors", tensors)
    with pytest.raises(OodError, match=message):
        ood.load_bank(path)


def test_the_bank_refuses_too_many_rows_a_large_file_garbage_and_a_missing_file(
    tmp_path, monkeypatch
):
    path = write_tensors(tmp_path / "bank.safetensors", {"features": np.ones((5, 2), np.float32)})
    monkeypatch.setattr(ood, "MAX_BANK_ROWS", 4)
    with pytest.raises(OodError, match="at most 4 x"):
        ood.load_bank(path)
    monkeypatch.setattr(ood, "_MAX_BANK_BYTES", path.stat().st_size - 1)
    with pytest.raises(OodError, match="larger than"):
        ood.load_bank(path)
    (tmp_path / "garbage.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(OodError, match="not a readable feature file"):
        ood.load_bank(tmp_path / "garbage.safetensors")
    with pytest.raises(OodError, match="cannot read"):
        ood.load_bank(tmp_path / "missing.safetensors")


def test_saving_a_bad_bank_writes_nothing(tmp_path: Path):
    path = tmp_path / "bank.safetensors"
    with pytest.raises(OodError, match="NaN"):
        ood.save_bank(path, np.array([[1.0, math.nan]]))
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------- features


def test_logits_and_features_give_the_head_input_and_leave_no_hook():
    import torch
    from torch import nn

    torch.manual_seed(0)
    body, head = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.ReLU()), nn.Linear(6, 3)
    network = nn.Sequential(body, head)
    inputs = torch.randn(4, 3, 2, 2)
    with torch.no_grad():
        logits, features = ood.logits_and_features(network, head, inputs)
        assert torch.equal(features, body(inputs))
        assert torch.equal(logits, network(inputs))
    assert not head._forward_hooks


# ------------------------------------------------------------------------- real data

# tests/benchmarks/ood_bench.py measured this setting over split seeds 0-3: kNN's AUROC
# beat MSP's by 0.102 to 0.132 (k = 10; MSP 0.818 to 0.846).
REAL_IN = ["bird", "truck"]
REAL_MARGIN = 0.06


@pytest.mark.shared
def test_knn_tells_held_out_cifar_classes_apart_better_than_msp(shared, tmp_path: Path):
    from concurrent.futures import ThreadPoolExecutor

    from resnet_desktop.core.dataset import load_scan, split_dataset
    from resnet_desktop.core.model_loader import load_model
    from resnet_desktop.core.zoo import CIFAR10_CLASSES
    from tests.benchmarks import ood_bench as bench

    archive, tests = shared(bench.TRAIN_ARCHIVE), shared(bench.TEST_FOLDER)
    folder = bench.extract_training_images(archive, REAL_IN, 50, tmp_path)
    split = split_dataset(load_scan(folder), 0.2, seed=0)
    model = bench.fine_tune(load_model("cifar_resnet20", shared(bench.WEIGHTS)), split, seed=0)
    outside = [name for name in CIFAR10_CLASSES if name not in REAL_IN]
    lists = (
        [s.path for s in split.train],
        [s.path for s in split.val],
        bench.cifar_test_images(tests, REAL_IN, 100),
        bench.cifar_test_images(tests, outside, 25),
    )
    with ThreadPoolExecutor(2) as pool:
        train, val, inside, out = (bench.run_network(model, paths, pool) for paths in lists)
    assert (len(inside.logits), len(out.logits)) == (200, 200)

    setup, bank = ood.knn_setup(train.pooled, val.pooled, split.train_counts)
    assert setup.k == 10
    knn = ood.auroc(
        setup.scores(inside.logits, inside.pooled, bank), setup.scores(out.logits, out.pooled, bank)
    )
    msp = ood.auroc(ood.msp(inside.logits), ood.msp(out.logits))
    assert knn >= msp + REAL_MARGIN, f"kNN AUROC {knn:.3f}, MSP {msp:.3f}"
