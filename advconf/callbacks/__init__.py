"""Lightning callbacks: thin adapters that schedule the plain-PyTorch pieces."""

from advconf.callbacks.attack_evaluation import AttackEvaluation

__all__ = ["AttackEvaluation"]
