"""Architectures, chosen in YAML by `class_path: advconf.models.NAME`. Each declares `input_shape`."""

from advconf.models.dorefa_resnet import DoReFaResNet18
from advconf.models.logreg import LogisticRegression
from advconf.models.madry import MadryMNIST, WideResNet
from advconf.models.mlp import MLP
from advconf.models.resnet import ResNet18
from advconf.models.shapes import check_input_shape
from advconf.models.vanilla_cnn import VanillaCNN

__all__ = [
    "DoReFaResNet18",
    "LogisticRegression",
    "MadryMNIST",
    "MLP",
    "ResNet18",
    "VanillaCNN",
    "WideResNet",
    "check_input_shape",
]
