import pytest

from tests.helpers import run_cli
from tests.reliability.runs import fit_spheres, global_step, reliable_config, run_dir, weights


@pytest.fixture(scope="session")
def uninterrupted(tmp_path_factory):
    """(global step, weights) at the end of the reference run that crash/preemption runs must match."""
    root = tmp_path_factory.mktemp("whole")
    run_cli(["fit", "--config", reliable_config(root, "whole")])
    last = run_dir(root, "whole") / "ckpt" / "last.ckpt"
    return global_step(last), weights(last)


@pytest.fixture(scope="session")
def spheres_reference(tmp_path_factory):
    """The uninterrupted ``fit_spheres`` run: its directory and (final step, weights)."""
    root = tmp_path_factory.mktemp("spheres-whole")
    assert fit_spheres(root) is None
    last = root / "ckpt" / "last.ckpt"
    return root, (global_step(last), weights(last))
