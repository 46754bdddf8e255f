"""Detection and vulnerability AUROCs against hand-counted pairs."""

import pytest
import torch

from advconf.metrics import detection_auroc, vulnerability_auroc


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


def test_vulnerability_auroc_counts_pairs_where_the_broken_example_is_less_confident():
    # Broken: scores 0.6, 0.9; unbroken: 0.7, 0.95. Pairs where broken < unbroken: (0.6, 0.7), (0.6, 0.95), (0.9, 0.95) = 3 of 4.
    score, broken = torch.tensor([0.6, 0.9, 0.7, 0.95]), torch.tensor([True, True, False, False])
    assert vulnerability_auroc(score, broken) == pytest.approx(3 / 4)
    assert vulnerability_auroc(torch.tensor([0.1, 0.2, 0.8]), torch.tensor([True, True, False])) == pytest.approx(1.0)


def test_vulnerability_auroc_is_none_when_every_or_no_example_breaks():
    assert vulnerability_auroc(torch.tensor([0.5, 0.6]), torch.tensor([True, True])) is None
    assert vulnerability_auroc(torch.tensor([0.5, 0.6]), torch.tensor([False, False])) is None
