import csv
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn

from advconf.attacks import PGD
from advconf.callbacks.adversarial_training import AdversarialTraining
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


# --- steps_per_chunk: several optimizer steps per Lightning batch ----------------------------------


class CrashAt(Callback):
    """Raise inside the optimizer-step hook of ``step`` (mid-chunk): a run that dies between checkpoints."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_before_optimizer_step(self, trainer: Trainer, pl_module: Classifier, optimizer: torch.optim.Optimizer) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError("crash")


def spheres(**kwargs) -> SpheresDataModule:
    """1,000 training points in batches of 50: 20 steps per epoch."""
    return SpheresDataModule(**{"train_size": 1000, "val_size": 100, "test_size": 100, "batch_size": 50, **kwargs})


def chunk_fit(steps_per_chunk: int, max_steps: int = 50, optimizer=lambda p: torch.optim.Adam(p, 1e-2), scheduler=None,
              callbacks=(), ckpt_path=None, **trainer) -> tuple[Trainer, Classifier]:
    torch.manual_seed(0)
    model = Classifier(nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2)), optimizer, scheduler, steps_per_chunk=steps_per_chunk)
    model.add_loss_term("l2", lambda: 1e-3 * model.model[0].weight.pow(2).sum())
    options = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False,
               "log_every_n_steps": 6}
    fitted = Trainer(max_steps=max_steps, callbacks=list(callbacks), **{**options, **trainer})
    fitted.fit(model, spheres(), ckpt_path=ckpt_path)
    return fitted, model


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_chunks_of_three_steps_train_exactly_like_one_step_per_batch():
    # 50 steps: two and a half epochs, the last chunk cut short by max_steps; the scheduler steps per epoch.
    halve = lambda optimizer: torch.optim.lr_scheduler.StepLR(optimizer, 1, 0.5)
    one, model_one = chunk_fit(1, scheduler=halve)
    three, model_three = chunk_fit(3, scheduler=halve)
    assert one.global_step == three.global_step == 50
    assert same_weights(model_one, model_three)
    assert three.optimizers[0].param_groups[0]["lr"] == one.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0025)
    assert float(three.callback_metrics["val/acc"]) == float(one.callback_metrics["val/acc"])
    for key in ("train/loss_epoch", "train/acc_epoch", "train/confidence", "train/l2_epoch", "train/total_loss_epoch"):
        assert float(three.callback_metrics[key]) == pytest.approx(float(one.callback_metrics[key]), rel=1e-6), key


def test_chunked_training_is_the_hand_written_loop_over_the_seeded_order():
    _, model = chunk_fit(2, max_steps=30)
    torch.manual_seed(0)
    reference = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    optimizer = torch.optim.Adam(reference.parameters(), 1e-2)
    data = spheres()
    data.setup("fit")
    x, y = data.datasets["train"].tensors
    steps = 0
    for epoch in range(2):  # EpochShuffle's order: randperm seeded with seed * 1_000_003 + epoch, whole batches
        order = torch.randperm(1000, generator=torch.Generator().manual_seed(0 * 1_000_003 + epoch))
        for batch in order.split(50):
            if steps < 30:
                optimizer.zero_grad()
                loss = F.cross_entropy(reference(x[batch]), y[batch]) + 1e-3 * reference[0].weight.pow(2).sum()
                loss.backward()
                optimizer.step()
                steps += 1
    assert same_weights(model.model, reference)


def test_epoch_metrics_cover_every_step_and_loggers_count_optimizer_steps(tmp_path):
    frozen = lambda p: torch.optim.SGD(p, lr=0.0)  # the weights stay at their initial values
    runs = {}
    for chunk in (1, 3):
        trainer, model = chunk_fit(chunk, max_steps=20, optimizer=frozen, logger=CSVLogger(tmp_path, name=f"k{chunk}"), max_epochs=1)
        with open(Path(trainer.logger.log_dir) / "metrics.csv") as f:
            metrics = list(csv.DictReader(f))
        runs[chunk] = [int(row["step"]) for row in metrics if row.get("train/loss_step")], metrics
    assert runs[3][0] == runs[1][0] == [5, 11, 17]  # every 6 steps (Lightning numbers them from 0)
    data = spheres()
    data.setup("fit")
    x, y = data.datasets["train"].tensors
    with torch.no_grad():
        logits = model.model(x)
    epoch = next(row for row in runs[3][1] if row.get("train/acc_epoch"))
    assert float(epoch["train/acc_epoch"]) == pytest.approx((logits.argmax(1) == y).float().mean().item(), abs=1e-6)
    assert float(epoch["train/loss_epoch"]) == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert float(epoch["train/confidence"]) == pytest.approx(logits.softmax(1).max(1).values.mean().item(), rel=1e-5)


def epoch_rows(tmp_path: Path, every: int, name: str, **limits) -> list[dict]:
    """The CSV rows with training epoch values of a fit whose Classifier logs them every ``every`` epochs."""
    torch.manual_seed(0)
    model = Classifier(nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2)), lambda p: torch.optim.Adam(p, 1e-2),
                       log_every_n_epochs=every)
    trainer = Trainer(logger=CSVLogger(tmp_path, name=name), enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, log_every_n_steps=5, **limits)
    trainer.fit(model, spheres())
    with open(Path(trainer.logger.log_dir) / "metrics.csv") as f:
        return [row for row in csv.DictReader(f) if row.get("train/loss_epoch")]


@pytest.mark.parametrize("limits, windows", [
    ({"max_epochs": 7}, [(0, 1, 2), (3, 4, 5), (6,)]),  # the last epoch ends the run: logged on its own
    ({"max_steps": 90}, [(0, 1, 2), (3, 4)]),  # stopped by max_steps in epoch 4 (20 steps an epoch)
])
def test_epoch_values_every_n_epochs_are_means_over_those_epochs_and_the_last_is_logged(tmp_path, limits, windows):
    each = epoch_rows(tmp_path, 1, "each", **limits)
    every_3 = epoch_rows(tmp_path, 3, "every_3", **limits)
    assert [int(row["epoch"]) for row in every_3] == [window[-1] for window in windows]
    sizes = {int(row["epoch"]): 20 if int(row["epoch"]) < 4 or "max_epochs" in limits else 10 for row in each}
    for row, window in zip(every_3, windows):
        for key in ("train/loss_epoch", "train/acc_epoch", "train/confidence"):
            # example-weighted mean of the per-epoch means (a truncated last epoch weighs less)
            mean = sum(float(each[e][key]) * sizes[e] for e in window) / sum(sizes[e] for e in window)
            assert float(row[key]) == pytest.approx(mean, rel=1e-5), (key, window)
    assert len(every_3) < len(each)


def test_log_every_n_epochs_below_one_is_refused():
    with pytest.raises(AdvconfError, match="log_every_n_epochs must be >= 1"):
        Classifier(nn.Linear(2, 2), log_every_n_epochs=0)


def test_a_run_that_dies_mid_chunk_resumes_from_last_to_the_same_weights(tmp_path):
    def checkpoints(directory):
        return ModelCheckpoint(directory, every_n_train_steps=6, save_last=True, save_top_k=0)

    _, whole = chunk_fit(3, max_steps=50)
    with pytest.raises(RuntimeError, match="crash"):
        chunk_fit(3, max_steps=50, callbacks=[checkpoints(tmp_path), CrashAt(28)], enable_checkpointing=True)
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["global_step"] == 24
    resumed, model = chunk_fit(3, max_steps=50, callbacks=[checkpoints(tmp_path)], enable_checkpointing=True, ckpt_path=tmp_path / "last.ckpt")
    assert resumed.global_step == 50
    assert same_weights(model, whole)


@pytest.mark.parametrize("fraction", [0.5, 1.0])  # 1.0: clean accuracy from the extra clean forward
def test_adversarial_training_in_chunks_attacks_every_step_exactly_like_one_step_per_batch(fraction):
    """Each optimizer step of a chunk gets its own attack on the current weights, with the random
    start an unchunked run gives that step; the adversarial metrics, computed once per chunk, have
    the epoch means of one computation per step."""
    runs = {}
    for chunk in (1, 4):
        attack = AdversarialTraining(PGD(steps=3, random_start=True), eps=0.1, fraction=fraction)
        runs[chunk] = chunk_fit(chunk, max_steps=30, callbacks=[attack], log_every_n_steps=12)
    (one, model_one), (four, model_four) = runs[1], runs[4]
    assert one.global_step == four.global_step == 30
    assert same_weights(model_one, model_four)
    for key in ("train/adv_loss_epoch", "train/adv_acc_epoch", "train/clean_acc_epoch"):
        assert float(four.callback_metrics[key]) == pytest.approx(float(one.callback_metrics[key]), rel=1e-6), key
    assert float(four.callback_metrics["train/adv_step_time_epoch"]) > 0


def test_chunking_refuses_settings_it_cannot_honour_before_training():
    with pytest.raises(AdvconfError) as refused:
        chunk_fit(4, callbacks=[ModelCheckpoint(every_n_train_steps=10)],
                  enable_checkpointing=True, log_every_n_steps=6, gradient_clip_val=1.0)
    message = str(refused.value)
    for part in ("steps_per_chunk 4", "log_every_n_steps 6", "every_n_train_steps 10", "clip"):
        assert part in message
    with pytest.raises(AdvconfError, match="steps_per_chunk must be >= 1"):
        Classifier(nn.Linear(2, 2), steps_per_chunk=0)


class LogsBatchIndex(Callback):
    """Logs each batch's index through ``log_train``, as a callback with per-step metrics would."""

    def on_train_batch_end(self, trainer: Trainer, pl_module: Classifier, outputs, batch, batch_idx: int) -> None:
        pl_module.log_train("train/batch_idx", torch.tensor(float(batch_idx)), batch_size=len(batch[1]))


def test_log_train_gives_callbacks_epoch_means_and_step_values_without_lightnings_log():
    trainer, _ = chunk_fit(1, max_steps=20, callbacks=[LogsBatchIndex()], max_epochs=1)
    assert float(trainer.callback_metrics["train/batch_idx_epoch"]) == pytest.approx(sum(range(20)) / 20)
    assert float(trainer.callback_metrics["train/batch_idx_step"]) == 19.0  # the last step's value
