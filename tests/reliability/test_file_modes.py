"""Files advconf writes follow the umask, as other tools' files do, so a group can share a run."""

import os
import stat

import pytest
import torch

from advconf.atomic import atomic_open
from advconf.reliability import AtomicCheckpointIO


@pytest.fixture
def umask():
    """Set the umask for one test (``umask(mask)``), then put the old one back."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_atomic_writes_get_0666_less_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    with atomic_open(tmp_path / "results.json") as f:
        f.write("{}")
    AtomicCheckpointIO().save_checkpoint({"state_dict": {}}, tmp_path / "ckpt" / "last.ckpt")
    assert mode(tmp_path / "results.json") == mode(tmp_path / "ckpt" / "last.ckpt") == expected
    assert sorted(os.listdir(tmp_path)) == ["ckpt", "results.json"]  # no temporary file left


def test_replacing_a_file_keeps_no_temporary_and_gives_the_new_content(tmp_path, umask):
    umask(0o002)
    path = tmp_path / "last.ckpt"
    for step in (1, 2):
        AtomicCheckpointIO().save_checkpoint({"global_step": step}, path)
    assert torch.load(path, weights_only=True)["global_step"] == 2
    assert os.listdir(tmp_path) == ["last.ckpt"] and mode(path) == 0o664
