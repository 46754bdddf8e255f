"""Memory of ``AttackEvaluation`` over a 10k-image test set: resident memory after 10%, 50%, 100% of batches."""

import gc
import tempfile

import torch
from lightning.pytorch import Callback, Trainer
from torch.utils.data import DataLoader, TensorDataset

from advconf.attacks import FGSM
from advconf.callbacks import AttackEvaluation
from advconf.models import VanillaCNN
from advconf.module import Classifier
from benchmarks.common import PixelTestData, rss_mib

EPS = [0.0, 0.05, 0.1, 0.2, 0.3]


class MemoryProbe(Callback):
    """Resident memory (MiB) after the given fractions of the test batches."""

    def __init__(self, num_batches: int, fractions: tuple[float, ...] = (0.1, 0.5, 1.0)) -> None:
        self.marks = {max(1, round(f * num_batches)) - 1: f for f in fractions}
        self.rss: dict[float, float] = {}

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx in self.marks:
            gc.collect()
            self.rss[self.marks[batch_idx]] = rss_mib()[0]


def run(quick: bool = False) -> list[dict]:
    n, batch = (2000, 100) if quick else (10_000, 100)
    torch.manual_seed(0)
    data = TensorDataset(torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,)))
    loader = DataLoader(data, batch_size=batch)
    probe = MemoryProbe(len(loader))
    # The callback added later in the list runs later: the probe sees each batch after the attack.
    evaluation = AttackEvaluation(FGSM(), eps=EPS, name="memory", masking_checks=False)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(inference_mode=False, logger=False, enable_progress_bar=False, enable_model_summary=False,
                          callbacks=[evaluation, probe], default_root_dir=run_dir, accelerator="cpu", devices=1)
        trainer.test(Classifier(VanillaCNN(nf=16).eval(), num_classes=10), datamodule=PixelTestData(loader), verbose=False)
    # Per-example records the evaluation must keep (correct + confidence per eps and clean, as float32).
    records_mib = n * 2 * (len(EPS) + 1) * 4 / 2**20
    growth = probe.rss[1.0] - probe.rss[0.1]
    return [{
        "benchmark": f"Attack-evaluation memory, FGSM x {len(EPS)} eps, {n} images in {len(loader)} batches",
        "rss_mib_after_10pct": probe.rss[0.1],
        "rss_mib_after_50pct": probe.rss[0.5],
        "rss_mib_after_100pct": probe.rss[1.0],
        "growth_10_to_100pct_mib": growth,
        "per_example_records_mib": records_mib,
        "ratio": growth,
        "target": "growth ~ per-example records only (no per-batch tensors or graphs kept)",
        "peak_rss_mib": rss_mib()[1],
    }]
