"""OffsetEvaluation: accuracy and confidence under a constant offset, exact on a model with a closed form."""

import csv
import math

import pytest
import torch
from torch import Tensor, nn

from advconf.callbacks import OffsetEvaluation
from advconf.errors import AdvconfError
from tests.callbacks.evaluation_run import results, run_test

OFFSETS = [0.0, 0.05, 0.15, 0.25, 0.5, 1.0]


class Brightness(nn.Module):
    """One logit, 10 * (mean pixel - 0.5): class 1 means "brighter than mid-grey"."""

    def forward(self, x: Tensor) -> Tensor:
        return 10 * (x.flatten(1).mean(dim=1, keepdim=True) - 0.5)


def flat_images() -> tuple[Tensor, Tensor]:
    """Uniform 2x2 images of brightness 0.1, 0.4 (class 0) and 0.7, 0.8 (class 1)."""
    values = torch.tensor([0.1, 0.4, 0.7, 0.8])
    return values.view(-1, 1, 1, 1).expand(-1, 1, 2, 2).clone(), (values > 0.5).long()


def test_offset_accuracy_per_sign_matches_the_closed_form(tmp_path):
    x, y = flat_images()
    run_test(OffsetEvaluation(offsets=OFFSETS), Brightness(), x, y, tmp_path, batch_size=3)
    result = results(tmp_path, "offset")
    # Adding c turns the 0.4 image bright for c > 0.1 and the 0.1 image for c > 0.4;
    # subtracting c turns the 0.7 image dark for c > 0.2 and the 0.8 image for c > 0.3.
    assert [r["accuracy"] for r in result["results"]["added"]] == [1.0, 1.0, 0.75, 0.75, 0.5, 0.5]
    assert [r["accuracy"] for r in result["results"]["subtracted"]] == [1.0, 1.0, 1.0, 0.75, 0.5, 0.5]
    assert [r["offset"] for r in result["results"]["added"]] == OFFSETS
    # at |c| = 1 every image clips to all-white (added) or all-black (subtracted): logit ±5
    sigmoid5 = 1 / (1 + math.exp(-5))
    assert result["results"]["added"][-1]["confidence"] == pytest.approx(sigmoid5)
    assert result["results"]["subtracted"][-1]["confidence"] == pytest.approx(sigmoid5)
    assert result["results"]["added"][-1]["num_adversarial"] == 2  # the two dark images
    assert result["clean"]["accuracy"] == 1.0 and result["num_examples"] == 4


def test_offset_writes_one_csv_row_per_sign_and_offset_and_a_png(tmp_path):
    x, y = flat_images()
    run_test(OffsetEvaluation(offsets=[0.0, 0.5], name="dc"), Brightness(), x, y, tmp_path)
    with open(tmp_path / "results" / "dc.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["sign"], float(r["offset"])) for r in rows] == [("added", 0.0), ("added", 0.5), ("subtracted", 0.0), ("subtracted", 0.5)]
    assert (tmp_path / "results" / "dc.png").read_bytes()[:4] == b"\x89PNG"


def test_offsets_are_magnitudes():
    with pytest.raises(AdvconfError, match="non-negative"):
        OffsetEvaluation(offsets=[-0.1, 0.2])
