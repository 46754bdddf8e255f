"""Catch data/architecture mismatches (e.g. CIFAR-10 into MadryMNIST) before training starts."""

from torch import nn

from advconf.errors import AdvconfError


def check_input_shape(model: nn.Module, datamodule: object) -> None:
    """Raise AdvconfError when the model's `input_shape` differs from the data module's.

    Both sides declare `input_shape` (C, H, W) as an attribute; a side that does not (a user's own
    module) is not checked.
    """
    expected = getattr(model, "input_shape", None)
    actual = getattr(datamodule, "input_shape", None)
    if expected is None or actual is None or tuple(expected) == tuple(actual):
        return
    raise AdvconfError(
        f"{type(model).__name__} expects inputs of shape {tuple(expected)} but {type(datamodule).__name__} "
        f"yields {tuple(actual)}: pick a model for this data or set the model's input_shape where it has one"
    )
