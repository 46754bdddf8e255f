"""W&B online without an API key or a network is detected in seconds (wandb.init waits 90 s)."""

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from advconf import wandb_check
from advconf.wandb_check import online_problem
from tests.conftest import require
from tests.helpers import REPO


@pytest.fixture
def with_key(monkeypatch, tmp_path):
    """Credentials as `wandb login` leaves them (a netrc entry), no proxy."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password 0123456789abcdef\n")
    netrc.chmod(0o600)
    for name in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL", "https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(netrc))
    return netrc


@pytest.fixture
def listening():
    """The URL of a local port that accepts connections."""
    server = socket.create_server(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def test_no_api_key_is_named(with_key, monkeypatch):
    with_key.write_text("")
    assert online_problem() == "no W&B API key for api.wandb.ai (run `wandb login` or set WANDB_API_KEY)"
    monkeypatch.setenv("WANDB_API_KEY", "0123456789abcdef")
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:1")
    assert "no W&B API key" not in online_problem()


def test_a_reachable_server_or_proxy_is_no_problem(with_key, monkeypatch, listening):
    monkeypatch.setenv("WANDB_API_KEY", "0123456789abcdef")
    monkeypatch.setenv("WANDB_BASE_URL", listening)
    assert online_problem() is None
    monkeypatch.setenv("WANDB_BASE_URL", "https://api.wandb.ai")  # not reachable from here: through the proxy
    monkeypatch.setenv("https_proxy", listening)
    assert online_problem() is None


def test_a_refused_connection_is_named_at_once(with_key, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("WANDB_API_KEY", "0123456789abcdef")
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
    assert online_problem() == f"127.0.0.1:{port} cannot be reached (Connection refused)"


def hangs_then_times_out(*args, **kwargs):
    time.sleep(30)
    raise TimeoutError("timed out")


def test_a_name_lookup_that_hangs_ends_after_the_timeout(with_key, monkeypatch):
    monkeypatch.setattr(wandb_check.socket, "create_connection", hangs_then_times_out)
    start = time.monotonic()
    assert online_problem(timeout_s=1) == "api.wandb.ai:443 did not answer within 1 s"
    assert time.monotonic() - start < 3


def test_without_a_network_the_answer_comes_in_seconds(with_key):
    require(shutil.which("unshare") is not None and os.geteuid() == 0, "unshare -n needs root")
    script = "from advconf.wandb_check import online_problem; print(online_problem(timeout_s=5))"
    start = time.monotonic()
    run = subprocess.run(["unshare", "-n", sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(REPO)},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("api.wandb.ai:443 cannot be reached (") or run.stdout.startswith("api.wandb.ai:443 did not answer")
    assert time.monotonic() - start < 30  # interpreter start-up included; wandb.init would take 90 s
