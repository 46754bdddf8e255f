"""Lightning callbacks: thin adapters that schedule the plain-PyTorch pieces."""

from advconf.callbacks.attack_evaluation import AttackEvaluation
from advconf.callbacks.non_examples import NonExampleEvaluation
from advconf.callbacks.offset_evaluation import OffsetEvaluation
from advconf.callbacks.pictures import ModelPictures

__all__ = ["AttackEvaluation", "ModelPictures", "NonExampleEvaluation", "OffsetEvaluation"]
