"""Short runs on the real Fashion-MNIST files (Debian package dataset-fashion-mnist).

The logistic-regression check goes through the CLI with configs/fashion_logreg.yaml, as a user
would; the CNN check compares PGD-trained and naturally trained Table-2 CNNs with the Python API.
"""

import json
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from advconf.attacks import PGD
from advconf.callbacks.adversarial_training import AdversarialTraining
from advconf.cli import main
from advconf.data import MNISTDataModule
from advconf.functional import predictions
from advconf.models import VanillaCNN
from advconf.module import Classifier

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "fashion_logreg.yaml"

pytestmark = pytest.mark.slow


def run_cli(args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as exit_:
        assert exit_.code in (0, None)


@pytest.mark.parametrize("bits", [32, 1])
def test_logistic_regression_sandal_vs_sneaker_is_accurate_and_fgsm_lowers_accuracy(fashion_mnist_dir, tmp_path, bits):
    common = [
        "--config", str(CONFIG),
        f"--data.init_args.data_dir={fashion_mnist_dir}",
        f"--trainer.default_root_dir={tmp_path}",
        f"--trainer.callbacks.init_args.dirpath={tmp_path}/ckpt",
        "--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
    ]
    if bits != 32:  # as in configs/table1_sweep.txt
        common += [
            "--trainer.callbacks+=advconf.callbacks.quantization.Quantization",
            f"--trainer.callbacks.init_args.weight_bits={bits}",
            "--trainer.callbacks.init_args.keep_first_last=false",
        ]
    # A short schedule needs a larger step than the paper's 50k steps of 1e-5.
    run_cli(["fit", *common, "--trainer.max_steps=300", "--trainer.limit_val_batches=0", "--model.optimizer.init_args.lr=1e-2"])
    run_cli(["test", *common, f"--ckpt_path={tmp_path}/ckpt/last.ckpt", "--attack", "fgsm", "--attack.eps=[0.0, 0.1]"])
    rows = {row["eps"]: row["accuracy"] for row in json.loads((tmp_path / "results" / "fgsm.json").read_text())["results"]}
    assert rows[0.0] > 0.8, rows  # chance is 0.5
    assert 0.0 < rows[0.1] < rows[0.0], rows


def robust_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    model.eval()
    x_adv = PGD(steps=10)(model, x, y, eps)
    with torch.no_grad():
        return (predictions(model(x_adv)) == y).float().mean().item()


def test_pgd_trained_cnn_is_more_robust_than_naturally_trained_one(fashion_mnist_dir):
    data = MNISTDataModule("fashion_mnist", str(fashion_mnist_dir), val_size=0, batch_size=64)
    data.setup("test")
    x, y = data.test_set.images[:500].float() / 255, data.test_set.labels[:500]
    accuracy = {}
    for name, callbacks in [("natural", []), ("pgd", [AdversarialTraining(PGD(steps=3, seed=None), eps=0.1)])]:
        torch.manual_seed(0)
        model = VanillaCNN(nf=8)
        trainer = pl.Trainer(max_steps=150, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, callbacks=callbacks)
        trainer.fit(Classifier(model, optimizer=lambda p: torch.optim.Adam(p, lr=2e-3)), datamodule=data)
        accuracy[name] = robust_accuracy(model, x, y, eps=0.1)
    assert accuracy["pgd"] > accuracy["natural"] + 0.1, accuracy
