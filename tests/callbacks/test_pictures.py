"""ModelPictures: first-layer filter grid with the near-zero fraction (Fig 8) and logistic-regression weights (Fig 4)."""

import pytest
import torch
import wandb
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import WandbLogger
from PIL import Image

from advconf.attacks import NonExampleAscent
from advconf.callbacks import ModelPictures, NonExampleEvaluation
from advconf.errors import AdvconfError
from advconf.models import MLP, LogisticRegression, VanillaCNN
from advconf.module import Classifier
from tests.callbacks.evaluation_run import InMemory, run_test
from tests.helpers import read_json


def png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_conv_model_gets_a_filter_grid_with_the_near_zero_fraction(tmp_path):
    model = VanillaCNN(input_shape=[1, 28, 28], nf=64)
    with torch.no_grad():
        model.conv1.weight[:46] *= 0.01  # 46 of 64 filters (72%) far below the largest
    x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    run_test(ModelPictures(near_zero=0.1), model, x, y, tmp_path, num_classes=10)
    summary = read_json(tmp_path / "results" / "filters.json")
    assert summary["layer"] == "conv1" and summary["num_filters"] == 64
    assert summary["near_zero_filters"] == 46 and summary["near_zero_fraction"] == pytest.approx(46 / 64)
    assert png_size(tmp_path / "results" / "filters.png") == (640, 700)  # 8 x 8 cells of 0.8 in + title, 100 dpi
    assert not (tmp_path / "results" / "weights.png").exists()


def test_logistic_regression_gets_a_weight_image(tmp_path):
    model = LogisticRegression(input_shape=[1, 28, 28])
    x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 2, (4,))
    run_test(ModelPictures(), model, x, y, tmp_path)
    assert png_size(tmp_path / "results" / "weights.png") == (400, 440)
    assert not (tmp_path / "results" / "filters.png").exists()


def test_fit_only_pictures_are_not_drawn_at_test_and_mlps_get_none(tmp_path):
    x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    run_test(ModelPictures(stages=["fit"]), VanillaCNN(nf=4), x, y, tmp_path / "cnn", num_classes=10)
    run_test(ModelPictures(), MLP(in_features=2, width=8), torch.rand(4, 2), torch.randint(0, 2, (4,)), tmp_path / "mlp")
    assert not (tmp_path / "cnn" / "results").exists() and not (tmp_path / "mlp" / "results").exists()


@pytest.mark.parametrize("options", [{"near_zero": 0.0}, {"near_zero": 1.5}, {"stages": ["predict"]}])
def test_bad_picture_options_are_refused(options):
    with pytest.raises(AdvconfError):
        ModelPictures(**options)


def test_pictures_and_the_non_example_grid_go_to_wandb(tmp_path):
    callbacks = [ModelPictures(), NonExampleEvaluation(NonExampleAscent(steps=2))]
    trainer = Trainer(default_root_dir=tmp_path, logger=WandbLogger(save_dir=tmp_path, offline=True, project="advconf-test"),
                      enable_progress_bar=False, enable_checkpointing=False, inference_mode=False, callbacks=callbacks)
    data = InMemory(torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,)), batch_size=4, box=(0.0, 1.0))
    try:
        trainer.test(Classifier(VanillaCNN(nf=4), num_classes=10), datamodule=data, verbose=False)
    finally:
        wandb.finish()
    media = tmp_path / "wandb"
    assert list(media.glob("offline-run-*/files/media/images/pictures/filters_*.png"))
    assert list(media.glob("offline-run-*/files/media/images/non-examples/images_*.png"))
