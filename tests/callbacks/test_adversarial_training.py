import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch import LightningDataModule
from lightning.pytorch.callbacks import ModelCheckpoint
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

    def __call__(self, model, x, y, eps, box=(0.0, 1.0), generator=None):
        bn = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
        self.calls.append({
            "model": model, "n": len(x), "bn_training": [m.training for m in bn], "box": box, "eps": eps,
            "draw": torch.rand(3, generator=generator),
        })
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


def test_attack_runs_on_the_architecture_with_batch_norm_in_train_mode_by_default():
    spy = Spy()
    _, module = fit([AdversarialTraining(spy, eps=0.1)])
    assert all(c["model"] is module.model for c in spy.calls)
    assert all(c["bn_training"] == [True] for c in spy.calls)
    assert spy.calls[0]["box"] == (0.0, 1.0) and spy.calls[0]["eps"] == 0.1


def test_batch_norm_can_use_running_statistics_during_the_attack_then_returns_to_training():
    spy = Spy()
    _, module = fit([AdversarialTraining(spy, eps=0.1, batch_norm="eval")])
    assert all(c["bn_training"] == [False] for c in spy.calls)
    assert module.model[2].training  # restored after generation


class RunningStatistics(pl.Callback):
    """Records the batch norm's running statistics when its `on_train_batch_start` runs."""

    def __init__(self) -> None:
        self.seen = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        bn = pl_module.model[2]
        self.seen.append((bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()))


class ForwardingAttack:
    """Runs the model on its input (so train-mode batch norm would move its statistics) and returns it."""

    def __init__(self) -> None:
        self.moved = []

    def __call__(self, model, x, y, eps, box=(0.0, 1.0), generator=None):
        bn = model[2]
        before = bn.running_mean.clone()
        with torch.no_grad():
            model(x + 0.1)
        self.moved.append(not torch.equal(bn.running_mean, before))
        return x


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_attack_generation_leaves_batch_norm_running_statistics_exactly_as_they_were(mode):
    before, after, attack = RunningStatistics(), RunningStatistics(), ForwardingAttack()
    fit([before, AdversarialTraining(attack, eps=0.1, batch_norm=mode), after], steps=3)
    assert attack.moved == [mode == "train"] * 3  # inside the attack, train mode does move them ...
    for b, a in zip(before.seen, after.seen):  # ... and they are put back exactly
        assert all(torch.equal(x, y) for x, y in zip(b, a))


def test_bad_batch_norm_mode_is_refused():
    with pytest.raises(AdvconfError, match="batch_norm must be 'train' or 'eval'"):
        AdversarialTraining(FGSM(), batch_norm="frozen")


def draws(seed: int, tmp_path=None, resume: bool = False, **schedule) -> list[torch.Tensor]:
    """The attack's random draws on each batch of a seeded run (optionally resumed from `last.ckpt`)."""
    pl.seed_everything(seed)
    spy = Spy()
    callbacks = [AdversarialTraining(spy, eps=0.1)]
    module = Classifier(small_model(), num_classes=2)
    checkpointing = tmp_path is not None
    if checkpointing:
        callbacks.append(ModelCheckpoint(dirpath=tmp_path, save_last=True))
    trainer = pl.Trainer(
        logger=False, enable_checkpointing=checkpointing, enable_progress_bar=False, enable_model_summary=False,
        callbacks=callbacks, num_sanity_val_steps=0, default_root_dir=tmp_path, **schedule,
    )
    trainer.fit(module, datamodule=Blobs(), ckpt_path="last" if resume else None)
    return [c["draw"] for c in spy.calls]


def test_training_attack_randomness_is_fresh_per_batch_and_reproducible_from_the_seed():
    first, again, other = draws(0, max_steps=6), draws(0, max_steps=6), draws(1, max_steps=6)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert len({tuple(d.tolist()) for d in first}) == 6  # a new draw on every batch, across epochs too
    assert not any(torch.equal(a, b) for a, b in zip(first, other))


def test_an_attack_that_draws_no_random_numbers_gets_no_generator():
    class Deterministic(Spy):
        draws_random_numbers = False

        def __call__(self, model, x, y, eps, box=(0.0, 1.0), generator=None):
            self.calls.append(generator)
            return x

    deterministic, spy = Deterministic(), Spy()
    fit([AdversarialTraining(deterministic, eps=0.1)])
    fit([AdversarialTraining(spy, eps=0.1)])  # an attack that says nothing gets one
    assert deterministic.calls == [None, None] and len(spy.calls) == 2
    assert FGSM.draws_random_numbers is False and PGD().draws_random_numbers


def test_training_attack_randomness_is_fresh_within_a_gradient_accumulation_window():
    assert len({tuple(d.tolist()) for d in draws(0, max_steps=2, accumulate_grad_batches=2)}) == 4


@pytest.mark.parametrize(
    "first, total",
    [({"max_epochs": 1}, {"max_epochs": 2}), ({"max_steps": 3}, {"max_steps": 8}), ({"max_steps": 4}, {"max_steps": 8})],
    ids=["epoch_end", "mid_epoch", "max_steps_at_epoch_end"],
)
def test_training_attack_randomness_continues_after_resuming_from_the_last_checkpoint(tmp_path, first, total):
    uninterrupted = draws(0, **total)  # two epochs of four batches
    resumed = draws(0, tmp_path, **first) + draws(0, tmp_path, resume=True, **total)
    assert len(resumed) == len(uninterrupted) == 8
    assert all(torch.equal(a, b) for a, b in zip(uninterrupted, resumed))


def test_logs_adversarial_and_clean_metrics_and_attack_time():
    trainer, _ = fit([AdversarialTraining(FGSM(), eps=0.1, fraction=0.5)])
    logged = trainer.callback_metrics
    for key in ("train/adv_loss_epoch", "train/adv_acc_epoch", "train/clean_acc_epoch", "train/adv_step_time_epoch"):
        assert key in logged
    assert 0 <= logged["train/adv_acc_epoch"] <= 1 and logged["train/adv_step_time_epoch"] > 0


class ExtraForward(pl.Callback):
    """Another forward of the model inside the training step (as an EMA or a monitoring callback does),
    on inputs the model gets all wrong; it must not be mistaken for the training step's logits."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        with torch.no_grad():
            pl_module.model(1 - batch[0])


class StepOutputs(pl.Callback):
    def __init__(self) -> None:
        self.outputs = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.outputs.append((outputs["logits"], batch[1]))


def test_adversarial_metrics_come_from_the_training_steps_logits():
    step = StepOutputs()
    trainer, _ = fit([AdversarialTraining(Spy(), eps=0.1, fraction=0.5), ExtraForward(), step], steps=1)
    (logits, y), = step.outputs
    logged = trainer.callback_metrics
    expected_adv = (logits[:8].argmax(1) == y[:8]).float().mean()
    expected_clean = (logits[8:].argmax(1) == y[8:]).float().mean()
    assert logged["train/adv_acc_step"] == expected_adv and logged["train/clean_acc_step"] == expected_clean
    torch.testing.assert_close(logged["train/adv_loss_step"], F.cross_entropy(logits[:8], y[:8]))


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


def test_eps_can_be_written_as_a_fraction_of_the_pixel_range():
    spy = Spy()
    fit([AdversarialTraining(spy, eps="8/255")], steps=1)
    assert spy.calls[0]["eps"] == 8 / 255


@pytest.mark.parametrize("eps", ["8/0", "eight", -0.1])
def test_bad_eps_is_refused_before_training(eps):
    with pytest.raises(AdvconfError, match="AdversarialTraining eps"):
        AdversarialTraining(Spy(), eps=eps)
