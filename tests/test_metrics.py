"""Confidence metrics against hand-computed values."""

import math

import pytest
import torch

from advconf.errors import AdvconfError
from advconf.metrics import detection_auroc, expected_calibration_error, mean_confidence


def calibration_example() -> tuple[torch.Tensor, torch.Tensor]:
    # Three predictions at confidence 0.75 (two right) and two at 0.62 (both right).
    probs = torch.tensor([[0.75, 0.25], [0.75, 0.25], [0.25, 0.75], [0.62, 0.38], [0.38, 0.62]])
    labels = torch.tensor([0, 0, 0, 0, 1])
    return probs, labels


def test_ece_with_separate_bins_matches_hand_computation():
    # 3/5 * |2/3 - 0.75| + 2/5 * |1 - 0.62|
    assert expected_calibration_error(*calibration_example(), n_bins=10) == pytest.approx(0.05 + 0.152, abs=1e-6)


def test_ece_with_one_bin_is_the_gap_between_accuracy_and_mean_confidence():
    # |4/5 - (3 * 0.75 + 2 * 0.62) / 5|
    assert expected_calibration_error(*calibration_example(), n_bins=1) == pytest.approx(0.102, abs=1e-6)


def test_ece_of_a_perfectly_calibrated_model_is_zero():
    probs = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(probs, torch.tensor([0, 1])) == pytest.approx(0.0)


@pytest.mark.parametrize("n_bins", [0, 2.5, True])
def test_ece_rejects_bad_bin_counts(n_bins):
    with pytest.raises(AdvconfError, match="n_bins"):
        expected_calibration_error(*calibration_example(), n_bins=n_bins)


def test_ece_rejects_mismatched_shapes():
    with pytest.raises(AdvconfError, match="ECE"):
        expected_calibration_error(torch.rand(4, 3), torch.zeros(5).long())


def test_auroc_counts_correctly_ordered_pairs():
    # Natural-vs-other pairs where the natural input is more confident: 2 + 2 + 1 of 6.
    natural, other = torch.tensor([0.9, 0.8, 0.4]), torch.tensor([0.5, 0.3])
    assert detection_auroc(natural, other) == pytest.approx(5 / 6)


def test_auroc_extremes_and_ties():
    assert detection_auroc(torch.tensor([0.9, 0.8]), torch.tensor([0.2, 0.1])) == pytest.approx(1.0)
    assert detection_auroc(torch.tensor([0.2, 0.1]), torch.tensor([0.9, 0.8])) == pytest.approx(0.0)
    assert detection_auroc(torch.tensor([0.5, 0.5]), torch.tensor([0.5])) == pytest.approx(0.5)


def test_auroc_is_none_without_examples_in_a_group():
    assert detection_auroc(torch.tensor([0.9]), torch.tensor([])) is None
    assert detection_auroc(torch.tensor([]), torch.tensor([0.9])) is None


def test_mean_confidence_for_softmax_and_single_logit_heads():
    assert mean_confidence(torch.tensor([[0.0, 0.0], [math.log(3), 0.0]])) == pytest.approx((0.5 + 0.75) / 2)
    assert mean_confidence(torch.tensor([[0.0], [-math.log(3)]])) == pytest.approx((0.5 + 0.75) / 2)
