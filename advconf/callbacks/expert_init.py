"""The paper's "expert initialisation" of the logistic regression, from the training data."""

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from advconf.errors import AdvconfError


class ExpertInitialisation(Callback):
    """Before a run starts, pass the whole training set to `model.initialise_from_data(x, y)`.

    Acts on a `Classifier`'s model whose `expert_init` is true (e.g. `LogisticRegression`), so a sweep
    can switch between expert and random initialisation with the model's flag alone. It runs after
    every callback's set-up (so a `Quantization` listed later has already swapped the layer) and
    only while the model is not initialised: a restored checkpoint keeps its trained weights, and
    `advconf test` without a checkpoint evaluates the untrained expert model (the paper's "no
    training" row).
    """

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        model = expert_model(pl_module)
        if model is None:
            return
        if not hasattr(model, "initialise_from_data"):
            raise AdvconfError(f"ExpertInitialisation: {type(model).__name__} has no initialise_from_data")
        if trainer.datamodule is None:
            raise AdvconfError("ExpertInitialisation needs a data module (it reads its train_dataloader)")

    def _initialise(self, trainer: Trainer, pl_module: LightningModule) -> None:
        model = expert_model(pl_module)
        if model is None or bool(getattr(model, "initialised", False)):
            return
        if trainer.state.fn != "fit":
            trainer.datamodule.setup("fit")  # only the fit stage loads the training split
        xs, ys = [], []
        for x, y, *_ in trainer.datamodule.train_dataloader():
            xs.append(x)
            ys.append(y)
        model.initialise_from_data(torch.cat(xs), torch.cat(ys))

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._initialise(trainer, pl_module)

    on_validation_start = on_test_start = on_predict_start = on_fit_start


def expert_model(pl_module: LightningModule) -> torch.nn.Module | None:
    model = getattr(pl_module, "model", pl_module)
    return model if getattr(model, "expert_init", False) else None
