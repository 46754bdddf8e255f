"""`NonExampleEvaluation`: paper §4.2 and §6 — how confidently the model labels noise ascended toward each class."""

from typing import Any

from lightning.pytorch import LightningModule, Trainer
from torch import Tensor

from advconf.attacks import NonExampleAscent, score_non_examples
from advconf.callbacks.attack_evaluation import describe
from advconf.callbacks.evaluation import Evaluation, Report
from advconf.callbacks.records import mean
from advconf.errors import AdvconfError
from advconf.functional import confidence
from advconf.metrics import detection_auroc
from advconf.plots import non_example_grid


class NonExampleEvaluation(Evaluation):
    """At the end of ``test``, ascend seeded noise toward each class and score the results.

    Reports, per non-example, the target probability, the confidence (max-softmax), the prediction
    and whether it is the target; over all of them the mean confidence and the AUROC of max-softmax
    for telling the natural test inputs (all of them, recorded during the test loop) from the
    non-examples. Writes ``results/<name>.json`` and ``.csv``; for image inputs (C, H, W) also the
    grid ``results/<name>.png`` (one column per class, titled with class and confidence), logged to
    W&B. Inputs that are not images (spheres) get no picture: there is nothing to look at in a
    point's coordinates beyond the numbers in the table.

    Args:
        attack: the ascent (``advconf.attacks.NonExampleAscent``; paper: 100 sign steps of 0.01 from N(0, 0.1)).
        per_class: non-examples per class (image k of every class starts from the same noise).
        name: name of the result files and of the W&B keys.
        overwrite: see ``Evaluation``.
    """

    needs_gradients = False  # the ascent runs once at the end, with its own input gradients

    def __init__(
        self, attack: NonExampleAscent | None = None, per_class: int = 1, name: str = "non-examples", overwrite: bool = False
    ) -> None:
        super().__init__(name, overwrite)
        if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
            raise AdvconfError(f"per_class must be a positive integer, got {per_class!r}")
        self.attack = attack or NonExampleAscent()
        self.per_class = per_class

    def evaluate_batch(self, pl_module: LightningModule, x: Tensor, y: Tensor, index: Tensor) -> dict[str, Tensor | None]:
        return {"confidence": confidence(pl_module(x))}

    def generate(self, trainer: Trainer, pl_module: LightningModule) -> tuple[Tensor, Tensor]:
        shape = getattr(trainer.datamodule, "input_shape", None) or getattr(pl_module.model, "input_shape", None)
        if shape is None:
            raise AdvconfError(f"{self.name}: neither the data module nor the model declares input_shape")
        was_training = pl_module.training
        pl_module.eval()
        try:
            return self.attack.generate(pl_module, pl_module.num_classes, tuple(shape), self.box, self.per_class)
        finally:
            pl_module.train(was_training)

    def report(self, trainer: Trainer, pl_module: LightningModule, columns: dict[str, Tensor], more: Any) -> Report:
        natural = columns["confidence"]
        images, targets = self.generate(trainer, pl_module)
        scores = score_non_examples(pl_module, images, targets)
        names = class_names(trainer, pl_module.num_classes)
        rows = [
            {
                "attack": self.name,
                "target": int(t),
                "class_name": names[int(t)],
                "target_probability": float(p),
                "confidence": float(c),
                "prediction": int(pred),
                "hit": bool(hit),
            }
            for t, p, c, pred, hit in zip(targets, scores.target_probability, scores.confidence, scores.prediction, scores.hit)
        ]
        payload = {
            "attack": describe(self.attack),
            "per_class": self.per_class,
            "num_classes": pl_module.num_classes,
            "mean_confidence": mean(scores.confidence.cpu()),
            "mean_target_probability": mean(scores.target_probability.cpu()),
            "hit_rate": mean(scores.hit.cpu()),
            "clean": {"confidence": mean(natural), "num_examples": len(natural)},
            "num_examples": len(natural),
            "detection_auroc": detection_auroc(natural, scores.confidence.cpu()),
            "non_examples": [{k: v for k, v in row.items() if k != "attack"} for row in rows],
        }
        figure = None
        if images.ndim == 4:
            titles = [f"{row['class_name']}\n{row['confidence']:.1%}" + ("" if row["hit"] else f" → {names[row['prediction']]}") for row in rows]
            suptitle = f"{self.name}: mean confidence {payload['mean_confidence']:.1%}, AUROC {fmt(payload['detection_auroc'])}"
            box = self.box or (images.min().item(), images.max().item())
            # generate() orders the images class by class; the grid has one column per class.
            order = [c * self.per_class + k for k in range(self.per_class) for c in range(pl_module.num_classes)]
            figure = non_example_grid(images[order].cpu(), [titles[i] for i in order], box, pl_module.num_classes, suptitle)
        line = (
            f"{self.name}: mean confidence {payload['mean_confidence']:.4f}, target hit rate {payload['hit_rate']:.2f}, "
            f"AUROC natural vs non-examples {fmt(payload['detection_auroc'])}"
        )
        return Report(payload=payload, rows=rows, figure=figure, crop=False, lines=[line])


def class_names(trainer: Trainer, num_classes: int) -> list[str]:
    names = getattr(trainer.datamodule, "class_names", None) if trainer.datamodule else None
    return list(names) if names and len(names) == num_classes else [str(k) for k in range(num_classes)]


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
