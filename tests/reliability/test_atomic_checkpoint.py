"""AtomicCheckpointIO: a save that dies midway leaves the previous file intact and no temporary file."""

import os

import pytest
import torch

from advconf.reliability import AtomicCheckpointIO


def test_save_writes_a_loadable_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "ckpt" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 7}, path)
    assert torch.load(path, weights_only=True)["global_step"] == 7
    assert os.listdir(path.parent) == ["last.ckpt"]


def test_a_save_killed_midway_keeps_the_old_last_ckpt_and_removes_the_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1}, path)
    before = path.read_bytes()

    real_save = torch.save

    def save_then_die(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.truncate(f.tell() // 2)  # half of the new file is on disk when the "kill" hits
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"global_step": 2, "big": torch.zeros(10_000)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["last.ckpt"]



def test_the_cli_writes_checkpoints_through_atomic_checkpoint_io(tmp_path):
    from lightning.pytorch.cli import LightningCLI

    from advconf.reliability import AtomicCheckpointIO
    from tests.helpers import run_cli, tiny_spheres_config

    seen = []
    original = LightningCLI._run_subcommand

    def spy(self, subcommand):
        seen.append(self.trainer.strategy.checkpoint_io)
        return original(self, subcommand)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LightningCLI, "_run_subcommand", spy)
        run_cli(["fit", "--config", tiny_spheres_config(tmp_path), "--trainer.max_epochs", "1", "--trainer.logger", "false"])
    assert isinstance(seen[0], AtomicCheckpointIO)
    assert "AtomicCheckpointIO" not in (tmp_path / "checkpoints" / "tiny" / "config.yaml").read_text()
