"""Small data sets written in the real on-disk formats (MNIST IDX, CIFAR-10 python pickles)."""

import gzip
import pickle
from pathlib import Path

import numpy as np

MNIST_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder: Path, n_train: int = 200, n_test: int = 50, gz: bool = True, seed: int = 0) -> dict:
    """Images whose pixel (0, 0) holds the label, so relabelling can be checked; returns the arrays."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = labels
        arrays[split] = (images, labels)
        for name, array in zip(MNIST_NAMES[split], (images, labels)):
            data = idx_bytes(array)
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return arrays


def write_cifar10(folder: Path, per_batch: int = 20, n_test: int = 20, seed: int = 0) -> Path:
    """`cifar-10-batches-py/` with data_batch_1..5, test_batch and batches.meta, as in the real archive."""
    rng = np.random.default_rng(seed)
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else per_batch
        labels = [int(v) for v in np.arange(n) % 10]
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        data[:, 0] = labels  # red channel, pixel (0, 0)
        batch = {"batch_label": name, "labels": labels, "data": data, "filenames": [f"{i}.png" for i in range(n)]}
        with open(root / name, "wb") as f:
            pickle.dump(batch, f)
    meta = {"num_cases_per_batch": per_batch, "label_names": ["airplane", "automobile", "bird", "cat", "deer",
            "dog", "frog", "horse", "ship", "truck"], "num_vis": 3072}
    with open(root / "batches.meta", "wb") as f:
        pickle.dump(meta, f)
    return root
