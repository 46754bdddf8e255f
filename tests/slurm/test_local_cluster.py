"""slurm/local_cluster.sh: two slurmd nodes in their own network namespaces, torn down without a trace."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.slurm.cluster import NODES, STATE_DIR, cluster_command, cluster_lock, local_cluster, missing_requirement

pytestmark = pytest.mark.xdist_group("local_slurm_cluster")


def system_state() -> tuple[str, str, str]:
    """/etc/hosts, network namespaces and links: what the cluster adds and must remove."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return Path("/etc/hosts").read_text(), netns, "\n".join(sorted(line.split(":")[1] for line in links.splitlines()))


@pytest.fixture
def cluster_env() -> Iterator[dict[str, str]]:
    reason = missing_requirement()
    require(reason is None, reason or "")
    with cluster_lock(), local_cluster() as env:
        yield env


def test_each_node_runs_tasks_in_its_own_network_namespace_under_its_own_name(cluster_env: dict[str, str]) -> None:
    shown = subprocess.run(
        ["srun", "--nodes=2", "--ntasks-per-node=1", "--label", "sh", "-c", "echo $(hostname) $(ip -o -4 addr show advconf0)"],
        env=cluster_env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    lines = sorted(shown.splitlines())

    assert [line.split()[1] for line in lines] == list(NODES)
    assert "inet 10.231.77.11/" in lines[0] and "inet 10.231.77.12/" in lines[1]


def test_stop_removes_everything_start_added_and_can_run_twice() -> None:
    reason = missing_requirement()
    require(reason is None, reason or "")
    with cluster_lock():
        cluster_command("stop")  # a cluster left over by a crashed run
        before = system_state()
        assert cluster_command("start").returncode == 0
        assert system_state() != before

        assert cluster_command("stop").returncode == 0
        assert cluster_command("stop").returncode == 0

        assert system_state() == before
        assert not STATE_DIR.exists()
