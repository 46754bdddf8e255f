"""Per-example records: ECE from confidence and correctness, budget rows, and counting each example once under DDP."""

import pytest
import torch

from advconf.callbacks.records import budget_rows, calibration_error


def calibration_example() -> tuple[torch.Tensor, torch.Tensor]:
    # Three predictions at confidence 0.75 (two right) and two at 0.62 (both right).
    return torch.tensor([0.75, 0.75, 0.75, 0.62, 0.62]), torch.tensor([True, True, False, True, True])


def test_ece_matches_hand_computation():
    # 15 bins: 0.75 and 0.62 fall in different bins. 3/5 * |2/3 - 0.75| + 2/5 * |1 - 0.62|
    assert calibration_error(*calibration_example()) == pytest.approx(0.05 + 0.152, abs=1e-6)


def test_ece_of_a_perfectly_calibrated_model_is_zero():
    assert calibration_error(torch.tensor([1.0, 1.0]), torch.tensor([True, True])) == pytest.approx(0.0)


def test_budget_rows_count_successful_adversarial_examples_by_hand():
    # Four examples; clean: right, right, wrong, right. Budget 1: wrong, right, wrong, wrong.
    columns = {
        "correct": torch.tensor([[1, 0], [1, 1], [0, 0], [1, 0]]).float(),
        "confidence": torch.tensor([[0.9, 0.6], [0.8, 0.7], [0.55, 0.9], [0.7, 0.65]]),
        "margin": torch.tensor([3.0, 2.0, 0.1, 1.0]),
    }
    clean, (row,) = budget_rows(columns, 1)
    assert clean["accuracy"] == pytest.approx(0.75) and clean["num_examples"] == 4
    assert row["accuracy"] == pytest.approx(0.25)
    assert row["num_adversarial"] == 2  # examples 0 and 3
    assert row["adversarial_confidence"] == pytest.approx((0.6 + 0.65) / 2)
    # Natural (all four clean) vs adversarial {0.6, 0.65}, pairs where the natural one is more confident: 0.9 > both (2), 0.8 > both (2), 0.55 < both (0), 0.7 > both (2) = 6 of 8.
    assert row["detection_auroc"] == pytest.approx(6 / 8)
    # Clean-right examples 0, 1, 3 with clean confidence 0.9, 0.8, 0.7; broken 0 and 3, unbroken 1.
    # Pairs (broken, unbroken) with the broken one less confident: (3, 1) only -> 1 of 2.
    assert row["vulnerability_auroc_confidence"] == pytest.approx(0.5)
    assert row["vulnerability_auroc_margin"] == pytest.approx(0.5)  # margins 3, 2, 1: same order


def test_padding_of_a_distributed_sampler_is_marked_so_no_example_counts_twice():
    from torch.utils.data import DistributedSampler

    from advconf.callbacks.records import without_padding

    data = list(range(5))  # padded to 6: rank 0 gets 0, 2, 4; rank 1 gets 1, 3 and a repeat of 0
    shards = [DistributedSampler(data, num_replicas=2, rank=r, shuffle=False) for r in (0, 1)]
    assert [without_padding(s, list(s)) for s in shards] == [[0, 2, 4], [1, 3, -1]]
