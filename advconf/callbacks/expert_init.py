"""The paper's "expert initialisation" of the logistic regression, from the training data."""

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from advconf.errors import AdvconfError


class ExpertInitialisation(Callback):
    """At set-up, pass the whole training set to `model.initialise_from_data(x, y)`.

    Acts on a `Classifier`'s model whose `expert_init` is true (e.g. `LogisticRegression`), so a sweep
    can switch between expert and random initialisation with the model's flag alone. It runs before
    a checkpoint is restored, so resuming keeps the trained weights, and `advconf test` without a
    checkpoint evaluates the untrained expert model (the paper's "no training" row).
    """

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        model = getattr(pl_module, "model", pl_module)
        if not getattr(model, "expert_init", False):
            return
        if not hasattr(model, "initialise_from_data"):
            raise AdvconfError(f"ExpertInitialisation: {type(model).__name__} has no initialise_from_data")
        if trainer.datamodule is None:
            raise AdvconfError("ExpertInitialisation needs a data module (it reads its train_dataloader)")
        if stage != "fit":
            trainer.datamodule.setup("fit")  # only the fit stage loads the training split
        xs, ys = [], []
        for x, y, *_ in trainer.datamodule.train_dataloader():
            xs.append(x)
            ys.append(y)
        model.initialise_from_data(torch.cat(xs), torch.cat(ys))
