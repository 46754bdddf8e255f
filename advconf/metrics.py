"""The paper's question as numbers: does confidence *predict* adversarial examples?

``detection_auroc`` scores max-softmax as a detector of natural inputs (Hendrycks & Gimpel 2017);
``vulnerability_auroc`` scores low clean confidence (or margin) as a predictor of which examples an
attack will break.
"""

import torch
from torch import Tensor
from torchmetrics.functional.classification import binary_auroc


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


def vulnerability_auroc(score: Tensor, broken: Tensor) -> float | None:
    """AUROC of ``-score`` for telling the ``broken`` examples from the others: 1.0 when every broken
    example has a lower score (clean confidence or margin) than every unbroken one, 0.5 when the score
    says nothing. ``None`` when every or no example broke."""
    broken = broken.bool()
    if broken.all() or not broken.any():
        return None
    return float(binary_auroc(-score.float(), broken.long()))
