"""SIGTERM / SIGUSR1 during fit: the current training batch finishes, ``last.ckpt`` is saved, the fit
stops with status 128 + signal, and ``--ckpt_path last`` ends with the weights of an uninterrupted
run, in ``last.ckpt`` (no ``last-v1.ckpt``), whatever the moment of the signal. Outside fit, a
signal never writes a checkpoint."""

import os
import shutil
import signal

import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from advconf.reliability import PreemptionCheckpoint
from tests.helpers import run_cli
from tests.reliability.faults import SignalAt
from tests.reliability.runs import (
    BATCHES,
    EPOCHS,
    FINAL_FILES,
    assert_same_end,
    ckpt_files,
    fit_spheres,
    global_step,
    reliable_config,
    run_dir,
    spheres_data,
    spheres_model,
)



def test_reference_run_saves_last_and_the_final_epoch(spheres_reference):
    root, (step, _) = spheres_reference
    assert step == EPOCHS * BATCHES and ckpt_files(root) == FINAL_FILES


# (signal, moment, step at which it is sent, step saved in last.ckpt on the stop)
MOMENTS = {
    "mid-epoch": ("SIGTERM", "train_batch_end", 14, 15),
    "mid-epoch SIGUSR1": ("SIGUSR1", "train_batch_end", 14, 15),
    # (a checkpoint taken after an epoch's last batch would break a second resume: the stop waits a batch)
    "before an epoch's last batch": ("SIGTERM", "train_batch_start", 19, 21),
    "after an epoch's last batch": ("SIGTERM", "train_batch_end", 20, 21),
    "during validation": ("SIGTERM", "validation", 10, 11),
    "first epoch, before any ModelCheckpoint save": ("SIGTERM", "train_batch_end", 3, 4),
    "during the sanity check": ("SIGTERM", "sanity_check", 0, 1),
}


@pytest.mark.parametrize("moment", MOMENTS)
def test_signal_in_fit_saves_last_stops_and_resumes_to_the_uninterrupted_weights(tmp_path, spheres_reference, moment):
    name, hook, step, saved = MOMENTS[moment]
    assert fit_spheres(tmp_path, SignalAt(step, name, hook)) == 128 + getattr(signal, name)
    assert global_step(tmp_path / "ckpt" / "last.ckpt") == saved

    assert fit_spheres(tmp_path, ckpt_path="last") is None
    assert_same_end(tmp_path / "ckpt" / "last.ckpt", spheres_reference[1])
    assert ckpt_files(tmp_path) == FINAL_FILES


def test_a_run_stopped_three_times_in_one_lineage_ends_with_the_uninterrupted_weights(tmp_path, spheres_reference):
    # Each run resumes the checkpoint of a resumed run: Lightning's loop counters must stay right too.
    stops = [("train_batch_start", 9, 11), ("validation", 20, 21), ("train_batch_end", 24, 25)]
    for i, (moment, step, saved) in enumerate(stops):
        assert fit_spheres(tmp_path, SignalAt(step, "SIGTERM", moment), ckpt_path="last" if i else None) == 128 + signal.SIGTERM
        assert global_step(tmp_path / "ckpt" / "last.ckpt") == saved
    assert fit_spheres(tmp_path, ckpt_path="last") is None
    assert_same_end(tmp_path / "ckpt" / "last.ckpt", spheres_reference[1])
    assert ckpt_files(tmp_path) == FINAL_FILES


def test_signal_during_a_checkpoint_write_lets_it_finish_then_stops_at_the_next_batch(tmp_path, spheres_reference, monkeypatch):
    real_save = torch.save

    def save_then_signal(checkpoint, f, *args, **kwargs):
        real_save(checkpoint, f, *args, **kwargs)
        if checkpoint["global_step"] == BATCHES:  # ModelCheckpoint's end-of-epoch save, before its rename
            signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(torch, "save", save_then_signal)
    assert fit_spheres(tmp_path) == 128 + signal.SIGTERM
    monkeypatch.undo()
    assert global_step(tmp_path / "ckpt" / "epoch=0-step=10.ckpt") == BATCHES  # the interrupted write is complete
    assert global_step(tmp_path / "ckpt" / "last.ckpt") == BATCHES + 1

    assert fit_spheres(tmp_path, ckpt_path="last") is None
    assert_same_end(tmp_path / "ckpt" / "last.ckpt", spheres_reference[1])
    assert ckpt_files(tmp_path) == FINAL_FILES


def test_resume_in_a_moved_run_directory_updates_its_last_ckpt(tmp_path, spheres_reference):
    # ModelCheckpoint forgets its last file's name when the directory changed, and would start last-v1.ckpt.
    assert fit_spheres(tmp_path / "old", SignalAt(14, "SIGTERM")) == 128 + signal.SIGTERM
    shutil.move(tmp_path / "old", tmp_path / "new")
    assert fit_spheres(tmp_path / "new", ckpt_path="last") is None
    assert_same_end(tmp_path / "new" / "ckpt" / "last.ckpt", spheres_reference[1])
    # (It also forgets its top-k files: epoch=0-step=10.ckpt stays beside the final epoch's.)
    assert ckpt_files(tmp_path / "new") == ["epoch=0-step=10.ckpt", *FINAL_FILES]


@pytest.mark.parametrize("stage, moment", [("validate", "validation"), ("test", "test"), ("predict", "predict")])
def test_signal_outside_fit_writes_no_checkpoint(tmp_path, spheres_reference, stage, moment):
    shutil.copytree(spheres_reference[0] / "ckpt", tmp_path / "ckpt")
    before = {p.name: p.read_bytes() for p in (tmp_path / "ckpt").iterdir()}
    trainer = Trainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False, accelerator="cpu",
                      callbacks=[ModelCheckpoint(tmp_path / "ckpt", save_last=True), PreemptionCheckpoint(),
                                 SignalAt(0, "SIGTERM", moment)])
    if stage == "predict":  # Lightning's predict loop does not look at the signal: it runs to the end
        trainer.predict(spheres_model(), spheres_data(), ckpt_path=tmp_path / "ckpt" / "last.ckpt")
    else:  # signalled after the first of 2 batches: Lightning stops before the second
        with pytest.raises(SIGTERMException):
            getattr(trainer, stage)(spheres_model(), spheres_data(), ckpt_path=tmp_path / "ckpt" / "last.ckpt")
    assert {p.name: p.read_bytes() for p in (tmp_path / "ckpt").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGUSR1"])
def test_cli_fit_signal_saves_last_and_resumes_to_the_same_weights(tmp_path, uninterrupted, signal_name):
    fault = {"class_path": "tests.reliability.faults.SignalAt", "init_args": {"step": 27, "signal_name": signal_name}}
    with pytest.raises(SystemExit) as stop:
        run_cli(["fit", "--config", reliable_config(tmp_path, "run", faults=[fault])])
    assert stop.value.code in (128 + signal.SIGTERM, 128 + getattr(signal, signal_name))
    last = run_dir(tmp_path, "run") / "ckpt" / "last.ckpt"
    # The signal's step, or the next one if PreemptionCheckpoint's hook ran before the sender's; not the periodic save (25).
    assert global_step(last) in (27, 28)

    run_cli(["fit", "--config", reliable_config(tmp_path, "run"), "--ckpt_path", "last"])
    assert_same_end(last, uninterrupted)
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]


@pytest.mark.parametrize("signal_name, requeue", [("SIGUSR1", "requeue 4242\n"), ("SIGTERM", None)])
def test_under_slurm_a_signal_saves_the_hpc_checkpoint_at_a_batch_end_and_the_requeued_job_resumes(
    tmp_path, spheres_reference, monkeypatch, signal_name, requeue
):
    """As in a job submitted by slurm/fit.sbatch: auto-requeue, SIGUSR1 90 s before the time limit
    (Lightning requeues the job), SIGTERM on preemption (SLURM may requeue the job itself)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"  # records the requeue instead of asking a cluster
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    scontrol.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    for name, value in {"SLURM_NTASKS": "1", "SLURM_JOB_NAME": "advconf-fit", "SLURM_JOB_ID": "4242", "SLURM_PROCID": "0",
                        "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "node1"}.items():
        monkeypatch.setenv(name, value)

    assert fit_spheres(tmp_path, SignalAt(10, signal_name, "validation")) == 128 + getattr(signal, signal_name)
    log = tmp_path / "scontrol.log"
    assert (log.read_text() if log.exists() else None) == requeue
    assert global_step(tmp_path / "hpc_ckpt_1.ckpt") == global_step(tmp_path / "ckpt" / "last.ckpt") == 11

    assert fit_spheres(tmp_path) is None  # the requeued job: Lightning resumes from hpc_ckpt_1.ckpt by itself
    assert_same_end(tmp_path / "ckpt" / "last.ckpt", spheres_reference[1])
    assert ckpt_files(tmp_path) == FINAL_FILES
