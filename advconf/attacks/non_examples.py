"""Non-example gradient ascent (paper §4.2, Figs 2, 3, 6, 7; Nguyen et al. 2015 call them "fooling images").

Start from noise N(0, noise_std) clipped to the box and ascend the log-probability of each target
class. A robust model should either stay unconfident or turn the noise into something that looks
like the class.
"""

from typing import NamedTuple

import torch
from torch import Tensor, nn

from advconf.attacks._gradients import (
    Box,
    check_box,
    check_count,
    check_positive,
    check_seed,
    clip_box,
    gradients_on,
    input_gradient,
    make_generator,
)
from advconf.errors import AdvconfError
from advconf.functional import confidence, predictions, probabilities


class NonExampleAscent:
    """Gradient (sign) ascent from seeded noise toward each target class.

    Args:
        steps: ascent steps (paper: 100).
        step_size: size of each step in input units (paper: 0.01).
        noise_std: standard deviation of the starting noise (paper: 0.1).
        seed: seed of the starting noise; the same seed gives the same images.
        sign: step along the gradient's sign (paper, Fig 6) instead of the raw gradient.
    """

    def __init__(
        self, steps: int = 100, step_size: float = 0.01, noise_std: float = 0.1, seed: int = 0, sign: bool = True
    ) -> None:
        self.steps = check_count("steps", steps)
        self.step_size = check_positive("step_size", step_size)
        self.noise_std = check_positive("noise_std", noise_std)
        if seed is None:
            raise AdvconfError("seed must be an integer: non-examples are generated from fixed noise")
        self.seed = check_seed(seed)
        self.sign = bool(sign)

    def start(
        self, num_classes: int, shape: tuple[int, ...], box: Box = (0.0, 1.0), per_class: int = 1, device: torch.device | str = "cpu"
    ) -> tuple[Tensor, Tensor]:
        """The seeded starting noise of ``generate`` and its target labels.

        Image ``k`` of every class starts from the same noise image ``k``, so the classes are
        compared from a common start (as in the paper's figures).
        """
        check_count("num_classes", num_classes, minimum=2)
        check_count("per_class", per_class)
        box = check_box(box)
        with torch.inference_mode(False):  # plain tensors, even when called from a test loop
            noise = torch.randn((per_class, *shape), generator=make_generator(self.seed)) * self.noise_std
            x = clip_box(noise.to(device).repeat(num_classes, *([1] * len(shape))), box)
            targets = torch.arange(num_classes, device=device).repeat_interleave(per_class)
        return x, targets

    def generate(
        self,
        model: nn.Module,
        num_classes: int,
        shape: tuple[int, ...],
        box: Box = (0.0, 1.0),
        per_class: int = 1,
        device: torch.device | str | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Non-examples of shape ``(num_classes * per_class, *shape)`` and their target labels.

        ``device`` defaults to the model's.
        """
        if device is None:
            device = next((p.device for p in model.parameters()), torch.device("cpu"))
        x, targets = self.start(num_classes, shape, box, per_class, device)  # also checks the arguments
        with gradients_on():
            for _ in range(self.steps):
                grad = input_gradient(model, x, targets, targeted=True)  # ascent on log p(target)
                x = clip_box(x + self.step_size * (grad.sign() if self.sign else grad), box)
        return x, targets


class NonExampleScores(NamedTuple):
    target_probability: Tensor  # p(target | x)
    confidence: Tensor  # max-softmax
    prediction: Tensor
    hit: Tensor  # prediction == target


def score_non_examples(model: nn.Module, images: Tensor, targets: Tensor) -> NonExampleScores:
    """Final confidence per non-example and whether the model predicts its target class."""
    with torch.no_grad():
        logits = model(images)
    predicted = predictions(logits)
    return NonExampleScores(
        target_probability=probabilities(logits).gather(1, targets.view(-1, 1))[:, 0],
        confidence=confidence(logits),
        prediction=predicted,
        hit=predicted == targets,
    )
