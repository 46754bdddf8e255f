"""Loss, probabilities and predictions for both model heads: K logits (softmax) or one logit (sigmoid).

Every consumer (the Classifier, attacks, metrics) goes through these so a single-logit binary
model is treated the same way everywhere.
"""

import torch
import torch.nn.functional as F


def classification_loss(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy for K logits, binary cross-entropy with logits for a single logit."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits[:, 0], y.to(logits.dtype), reduction=reduction)
    return F.cross_entropy(logits, y, reduction=reduction)


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities of shape (N, K); a single logit becomes two columns [1 - p, p]."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        p = torch.sigmoid(logits[:, 0])
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(logits, dim=1)


def predictions(logits: torch.Tensor) -> torch.Tensor:
    """Predicted class index for each example."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        return (logits[:, 0] > 0).long()
    return logits.argmax(dim=1)


def confidence(logits: torch.Tensor) -> torch.Tensor:
    """Max-softmax (or max of sigmoid and its complement): the model's confidence in its prediction."""
    return probabilities(logits).max(dim=1).values


def num_classes(logits: torch.Tensor) -> int:
    return 2 if logits.shape[1] == 1 else logits.shape[1]


def top5_correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """Whether the label is among the five largest logits (ImageNet's top-5); None below six classes."""
    if logits.ndim != 2 or logits.shape[1] <= 5:
        return None
    return (logits.topk(5, dim=1).indices == y[:, None]).any(dim=1)


def margin(logits: torch.Tensor) -> torch.Tensor:
    """Top logit minus the runner-up (a single logit z is the pair [0, z]: margin |z|)."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        return logits[:, 0].abs()
    top2 = logits.topk(2, dim=1).values
    return top2[:, 0] - top2[:, 1]
