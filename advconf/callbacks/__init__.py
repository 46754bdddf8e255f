"""Lightning callbacks: thin adapters that schedule the plain-PyTorch pieces.

Use them in YAML as ``class_path: advconf.callbacks.NAME``.
"""

from advconf.callbacks.adversarial_training import AdversarialTraining
from advconf.callbacks.attack_evaluation import AttackEvaluation
from advconf.callbacks.autoattack_evaluation import AutoAttackEvaluation
from advconf.callbacks.decision_boundary import DecisionBoundary
from advconf.callbacks.expert_init import ExpertInitialisation
from advconf.callbacks.finite_check import FiniteCheck
from advconf.callbacks.non_examples import NonExampleEvaluation
from advconf.callbacks.offset_evaluation import OffsetEvaluation
from advconf.callbacks.pictures import ModelPictures
from advconf.callbacks.progress_bar import ThrottledProgressBar
from advconf.callbacks.pruning import Pruning
from advconf.callbacks.quantization import Quantization
from advconf.callbacks.weight_decay import PerLayerWeightDecay

__all__ = [
    "AdversarialTraining",
    "AttackEvaluation",
    "AutoAttackEvaluation",
    "DecisionBoundary",
    "ExpertInitialisation",
    "FiniteCheck",
    "ModelPictures",
    "NonExampleEvaluation",
    "OffsetEvaluation",
    "PerLayerWeightDecay",
    "Pruning",
    "Quantization",
    "ThrottledProgressBar",
]
