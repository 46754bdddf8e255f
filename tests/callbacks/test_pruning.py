import lightning.pytorch as pl
import pytest
import torch

from advconf.callbacks.pruning import PruneOnce
from advconf.data import MNISTDataModule
from advconf.errors import AdvconfError
from advconf.models import VanillaCNN
from advconf.module import Classifier
from tests.data.formats import write_mnist


def test_prunes_the_amount_once_and_not_batch_norm(tmp_path):
    write_mnist(tmp_path, n_train=40, n_test=10)
    model = VanillaCNN(nf=2, batch_norm=True)
    trainer = pl.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[PruneOnce(amount=0.3)])
    trainer.fit(Classifier(model), datamodule=MNISTDataModule("mnist", str(tmp_path), val_size=0, batch_size=20))
    weights = [m.weight for m in (model.conv1, model.conv2, model.conv3, model.fc)]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert zeros == pytest.approx(0.3, abs=0.01)  # three epochs, still 30%: no compounding
    assert (model.bn2.weight != 0).all()


def test_amount_outside_zero_one_is_refused():
    with pytest.raises(AdvconfError, match="amount"):
        PruneOnce(amount=1.0)
