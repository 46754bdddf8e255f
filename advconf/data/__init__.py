"""Data modules, chosen in YAML by `class_path: advconf.data.NAME`. Inputs are in pixel space."""

from advconf.data.cifar10 import CIFAR10DataModule
from advconf.data.imagenet import ImageNetDataModule
from advconf.data.mnist import MNISTDataModule
from advconf.data.spheres import SpheresDataModule

__all__ = ["CIFAR10DataModule", "ImageNetDataModule", "MNISTDataModule", "SpheresDataModule"]
