import pytest
import torch
from lightning.pytorch import Trainer
from torch import nn

from advconf.data.spheres import SpheresDataModule
from advconf.errors import AdvconfError
from advconf.module import SETTINGS_KEY, Classifier


def _fit(model: Classifier, max_epochs: int = 2, **data) -> Trainer:
    trainer = Trainer(max_epochs=max_epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    dm = SpheresDataModule(train_size=2000, val_size=100, test_size=100, train_region="full", **data)
    trainer.fit(model, dm)
    return trainer


def test_single_logit_model_trains_with_sigmoid_loss_and_reports_binary_accuracy():
    model = Classifier(nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1)), lambda p: torch.optim.Adam(p, 1e-2))
    trainer = _fit(model, max_epochs=5)
    metrics = trainer.callback_metrics
    assert metrics["val/acc"] > 0.8
    assert 0.5 <= metrics["val/confidence"] <= 1.0


def test_loss_terms_are_added_to_the_training_loss_and_logged_separately():
    model = Classifier(nn.Linear(2, 2), lambda p: torch.optim.SGD(p, 0.0))  # lr 0: the loss stays put
    model.add_loss_term("penalty", lambda: torch.tensor(5.0))
    trainer = _fit(model)
    metrics = trainer.callback_metrics
    assert float(metrics["train/penalty_epoch"]) == pytest.approx(5.0)
    assert float(metrics["train/total_loss_epoch"]) == pytest.approx(float(metrics["train/loss_epoch"]) + 5.0, rel=1e-5)


def test_checkpoint_with_other_settings_is_refused_naming_the_difference():
    model = Classifier(nn.Linear(2, 2), num_classes=2)
    model.settings["quantization"] = {"weight_bits": 1}
    checkpoint: dict = {}
    model.on_save_checkpoint(checkpoint)
    assert checkpoint[SETTINGS_KEY] == {"quantization": {"weight_bits": 1}}
    model.on_load_checkpoint(checkpoint)  # same settings load fine
    other = Classifier(nn.Linear(2, 2), num_classes=2)
    with pytest.raises(AdvconfError, match="quantization: checkpoint has .*weight_bits.*config has None"):
        other.on_load_checkpoint(checkpoint)


def test_lr_scheduler_from_config_is_used():
    model = Classifier(
        nn.Linear(2, 2),
        lambda p: torch.optim.SGD(p, lr=1.0),
        lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5),
    )
    trainer = _fit(model)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.25)
