"""NonExampleEvaluation: one generation at test end; target probabilities rise, images stay in the box, same seed same images."""

import pytest
import torch
from PIL import Image
from torch import Tensor, nn

from advconf.attacks import NonExampleAscent, score_non_examples
from advconf.callbacks import NonExampleEvaluation
from advconf.errors import AdvconfError
from advconf.metrics import detection_auroc
from advconf.plots import non_example_figsize
from advconf.plots import PICTURE_DPI
from tests.callbacks.evaluation_run import results, run_test

SHAPE = (1, 6, 6)


def linear_image_model(num_classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, num_classes))
    model.input_shape = SHAPE
    return model.eval()


def test_non_examples_raise_the_target_probability_and_stay_in_the_box(tmp_path):
    model = linear_image_model()
    attack = NonExampleAscent(steps=20)
    x, y = torch.rand(40, *SHAPE), torch.randint(0, 3, (40,))
    run_test(NonExampleEvaluation(attack), model, x, y, tmp_path, num_classes=3)
    result = results(tmp_path, "non-examples")
    start, targets = attack.start(3, SHAPE)
    before = score_non_examples(model, start, targets).target_probability
    after = torch.tensor([row["target_probability"] for row in result["non_examples"]])
    assert [row["target"] for row in result["non_examples"]] == [0, 1, 2]
    assert (after > before).all() and all(row["hit"] for row in result["non_examples"])
    images, _ = attack.generate(model, 3, SHAPE)
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert result["mean_confidence"] == pytest.approx(sum(r["confidence"] for r in result["non_examples"]) / 3)
    with torch.no_grad():
        natural = torch.softmax(model(x), dim=1).max(dim=1).values
    assert result["clean"]["num_examples"] == 40
    assert result["detection_auroc"] == pytest.approx(detection_auroc(natural, after.new_tensor([r["confidence"] for r in result["non_examples"]])))


def test_same_seed_gives_the_same_non_examples_and_grid_size(tmp_path):
    x, y = torch.rand(8, *SHAPE), torch.randint(0, 3, (8,))
    for run in ("a", "b"):
        run_test(NonExampleEvaluation(NonExampleAscent(steps=5, seed=3), per_class=2), linear_image_model(), x, y, tmp_path / run, num_classes=3)
    a, b = results(tmp_path / "a", "non-examples"), results(tmp_path / "b", "non-examples")
    assert a["non_examples"] == b["non_examples"] and len(a["non_examples"]) == 6
    width, height = non_example_figsize(rows=2, cols=3)
    with Image.open(tmp_path / "a" / "results" / "non-examples.png") as png:
        assert png.format == "PNG"
        assert png.size == (round(width * PICTURE_DPI), round(height * PICTURE_DPI)) == (450, 420)


class Disc(nn.Module):
    """2-D points: class 1 outside the unit circle (the spheres task without training)."""

    input_shape = (2,)

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(4.0))

    def forward(self, x: Tensor) -> Tensor:
        return self.scale * (x.norm(dim=1, keepdim=True) - 1)


def test_points_without_image_shape_get_scores_but_no_picture(tmp_path):
    x = torch.randn(20, 2)
    run_test(NonExampleEvaluation(NonExampleAscent(steps=10)), Disc(), x, (x.norm(dim=1) > 1).long(), tmp_path)
    result = results(tmp_path, "non-examples")
    assert len(result["non_examples"]) == 2 and result["detection_auroc"] is not None
    assert not (tmp_path / "results" / "non-examples.png").exists()


def test_per_class_must_be_positive():
    with pytest.raises(AdvconfError, match="per_class"):
        NonExampleEvaluation(per_class=0)
