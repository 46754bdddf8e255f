"""Confidence metrics: mean max-softmax, expected calibration error, and detection AUROC.

The paper's question is whether confidence *predicts* adversarial examples: ``detection_auroc``
scores max-softmax as a detector of natural inputs (Hendrycks & Gimpel 2017).
"""

import torch
from torch import Tensor
from torchmetrics.functional.classification import binary_auroc, multiclass_calibration_error

from advconf.errors import AdvconfError
from advconf.functional import confidence


def mean_confidence(logits: Tensor) -> float:
    """Mean max-softmax (max of sigmoid and its complement for a single logit)."""
    return float(confidence(logits).mean())


def expected_calibration_error(probs: Tensor, labels: Tensor, n_bins: int = 15) -> float:
    """Top-label ECE (L1) of class probabilities ``(N, K)`` over ``n_bins`` equal-width confidence bins."""
    if probs.ndim != 2 or probs.shape[0] != labels.shape[0]:
        raise AdvconfError(f"ECE needs probabilities (N, K) and N labels, got {tuple(probs.shape)} and {tuple(labels.shape)}")
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise AdvconfError(f"n_bins must be a positive integer, got {n_bins!r}")
    return float(multiclass_calibration_error(probs, labels, num_classes=probs.shape[1], n_bins=n_bins, norm="l1"))


def detection_auroc(conf_natural: Tensor, conf_other: Tensor) -> float | None:
    """AUROC of confidence for telling natural inputs (positives) from others (adversarial or non-examples).

    1.0: every natural input is more confident than every other one; 0.5: confidence says nothing.
    ``None`` (JSON null) when either group is empty, e.g. no attack succeeded.
    """
    if conf_natural.numel() == 0 or conf_other.numel() == 0:
        return None
    scores = torch.cat([conf_natural.flatten(), conf_other.flatten()]).float()
    target = torch.cat([torch.ones(conf_natural.numel()), torch.zeros(conf_other.numel())]).long()
    return float(binary_auroc(scores, target.to(scores.device)))
