import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch import LightningDataModule
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from advconf.attacks import FGSM, PGD
from advconf.callbacks.adversarial_training import AdversarialTraining
from advconf.errors import AdvconfError
from advconf.module import Classifier


class Blobs(LightningDataModule):
    """Two Gaussian blobs in a 2x2 'image', inside [0, 1]."""

    input_box = (0.0, 1.0)
    num_classes = 2

    def __init__(self, n: int = 64, batch_size: int = 16) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.y = torch.arange(n) % 2
        self.x = (0.3 + 0.4 * self.y.view(-1, 1, 1, 1) + 0.05 * torch.randn(n, 1, 2, 2, generator=g)).clamp(0, 1)
        self.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.x, self.y), batch_size=self.batch_size)


def small_model() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


class Spy:
    """An attack that records what it was called with and pushes inputs to the box's top."""

    def __init__(self) -> None:
        self.calls = []

    def __call__(self, model, x, y, eps, box=(0.0, 1.0)):
        bn = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
        self.calls.append({"model": model, "n": len(x), "bn_training": [m.training for m in bn], "box": box, "eps": eps})
        return torch.full_like(x, box[1])


class SeenBatches(pl.Callback):
    def __init__(self) -> None:
        self.inputs = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.inputs.append(batch[0].clone())


def fit(callbacks, model=None, steps=2, **data_kwargs):
    module = Classifier(model or small_model(), num_classes=2)
    trainer = pl.Trainer(
        max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=callbacks, num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=Blobs(**data_kwargs))
    return trainer, module


def test_fraction_of_each_batch_is_replaced_by_the_attack_output():
    spy, seen = Spy(), SeenBatches()
    fit([AdversarialTraining(spy, eps=0.1, fraction=0.25), seen])
    assert [c["n"] for c in spy.calls] == [4, 4]
    for x in seen.inputs:
        assert x[:4].eq(1.0).all() and not x[4:].eq(1.0).any()


def test_attack_runs_on_the_architecture_with_batch_norm_in_eval_then_restored():
    spy = Spy()
    _, module = fit([AdversarialTraining(spy, eps=0.1)])
    assert all(c["model"] is module.model for c in spy.calls)
    assert all(c["bn_training"] == [False] for c in spy.calls)
    assert module.model[2].training  # restored after generation
    assert spy.calls[0]["box"] == (0.0, 1.0) and spy.calls[0]["eps"] == 0.1


def test_batch_norm_can_stay_in_training_mode_during_the_attack():
    spy = Spy()
    fit([AdversarialTraining(spy, eps=0.1, bn_eval_during_attack=False)])
    assert all(c["bn_training"] == [True] for c in spy.calls)


@pytest.mark.parametrize("bn_eval", [True, False])
def test_batch_norm_running_statistics_ignore_attack_forwards_unless_asked(bn_eval):
    """A 5-step PGD with a negligible budget: BN statistics move as in one clean step only in eval mode."""
    torch.manual_seed(0)
    reference, attacked = small_model(), small_model()
    attacked.load_state_dict(reference.state_dict())
    fit([], model=reference, steps=1)
    attack = AdversarialTraining(PGD(steps=5, step_size=1e-9, seed=None), eps=1e-9, bn_eval_during_attack=bn_eval)
    fit([attack], model=attacked, steps=1)
    same = torch.allclose(attacked[2].running_mean, reference[2].running_mean, atol=1e-6)
    assert same == bn_eval


def test_logs_adversarial_and_clean_metrics_and_attack_time():
    trainer, _ = fit([AdversarialTraining(FGSM(), eps=0.1, fraction=0.5)])
    logged = trainer.callback_metrics
    for key in ("train/adv_loss_epoch", "train/adv_acc_epoch", "train/clean_acc_epoch", "train/adv_step_time_epoch"):
        assert key in logged
    assert 0 <= logged["train/adv_acc_epoch"] <= 1 and logged["train/adv_step_time_epoch"] > 0


def test_clean_accuracy_is_measured_when_the_whole_batch_is_attacked():
    trainer, _ = fit([AdversarialTraining(FGSM(), eps=0.1, fraction=1.0)])
    assert "train/clean_acc_epoch" in trainer.callback_metrics


@pytest.mark.parametrize("fraction", [0.0, 1.5])
def test_fraction_outside_zero_one_is_refused(fraction):
    with pytest.raises(AdvconfError, match="fraction"):
        AdversarialTraining(FGSM(), eps=0.1, fraction=fraction)


@pytest.mark.slow
def test_adversarial_training_runs_under_ddp_with_two_processes(tmp_path):
    """Two CPU processes (gloo) through the real CLI: each rank attacks its own shard on the unwrapped model."""
    import os
    import subprocess
    import sys

    from tests.helpers import REPO, tiny_spheres_config

    config = tiny_spheres_config(tmp_path, name="ddp")
    args = ["fit", "--config", config, "--trainer.max_epochs", "1", "--trainer.logger", "false",
            "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp",
            "--trainer.callbacks+=advconf.callbacks.AdversarialTraining",
            "--trainer.callbacks.init_args.attack=advconf.attacks.PGD", "--trainer.callbacks.init_args.eps=0.1"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    run = subprocess.run([sys.executable, "-m", "advconf", *map(str, args)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    ckpt = torch.load(tmp_path / "checkpoints" / "ddp" / "ckpt" / "last.ckpt", weights_only=True)
    # 1000 training points, batch 50, split over 2 ranks: 10 optimizer steps in the epoch
    assert ckpt["global_step"] == 10
    assert "terminate called" not in run.stderr
