"""`NonExampleEvaluation`: paper §4.2 and §6 — how confidently the model labels noise ascended toward each class."""

from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from advconf.attacks import NonExampleAscent, score_non_examples
from advconf.callbacks.attack_evaluation import describe
from advconf.callbacks.records import gathered, mean
from advconf.errors import AdvconfError
from advconf.functional import confidence
from advconf.metrics import detection_auroc
from advconf.plots import non_example_grid
from advconf.quant import attack_gradients
from advconf.results import (
    log_image,
    log_table_and_curve,
    results_dir,
    run_info,
    save_picture,
    write_csv,
    write_json,
)


class NonExampleEvaluation(Callback):
    """At the end of ``test``, ascend seeded noise toward each class once and score the results.

    Reports, per non-example, the target probability, the confidence (max-softmax), the prediction
    and whether it is the target; over all of them the mean confidence and the AUROC of max-softmax
    for telling the natural test inputs (all of them, gathered during the test loop) from the
    non-examples. Writes ``results/<name>.json`` and ``.csv``; for image inputs (C, H, W) also the
    grid ``results/<name>.png`` (one column per class, titled with class and confidence) and logs it
    to W&B. Inputs that are not images (spheres) get no picture: there is nothing to look at in a
    point's coordinates beyond the numbers in the table.

    Args:
        attack: the ascent (``advconf.attacks.NonExampleAscent``; paper: 100 sign steps of 0.01 from N(0, 0.1)).
        per_class: non-examples per class (image k of every class starts from the same noise).
        name: name of the result files and of the W&B keys.
    """

    def __init__(self, attack: NonExampleAscent | None = None, per_class: int = 1, name: str = "fooling") -> None:
        if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
            raise AdvconfError(f"per_class must be a positive integer, got {per_class!r}")
        if not name or "/" in name:
            raise AdvconfError(f"non-example evaluation name must be a non-empty file name, got {name!r}")
        self.attack = attack or NonExampleAscent()
        self.per_class = per_class
        self.name = name
        self._clean_confidence: list[torch.Tensor] = []

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._clean_confidence = []

    @torch.no_grad()
    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._clean_confidence.append(confidence(pl_module(batch[0])).float().cpu())

    def generate(self, trainer: Trainer, pl_module: LightningModule) -> tuple[torch.Tensor, torch.Tensor]:
        shape = getattr(trainer.datamodule, "input_shape", None) or getattr(pl_module.model, "input_shape", None)
        if shape is None:
            raise AdvconfError(f"{self.name}: neither the data module nor the model declares input_shape")
        box = getattr(trainer.datamodule, "input_box", (0.0, 1.0)) if trainer.datamodule else (0.0, 1.0)
        was_training = pl_module.training
        pl_module.eval()
        try:
            with attack_gradients(pl_module):
                images, targets = self.attack.generate(pl_module, pl_module.num_classes, tuple(shape), box, self.per_class)
        finally:
            pl_module.train(was_training)
        return images, targets

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        natural = gathered(pl_module, self._clean_confidence)  # every rank takes part in the gather
        if not trainer.is_global_zero:
            return
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
            "name": self.name,
            "attack": describe(self.attack),
            "per_class": self.per_class,
            "num_classes": pl_module.num_classes,
            "mean_confidence": mean(scores.confidence.cpu()),
            "mean_target_probability": mean(scores.target_probability.cpu()),
            "hit_rate": mean(scores.hit.float().cpu()),
            "clean": {"confidence": mean(natural), "num_examples": len(natural)},
            "detection_auroc": detection_auroc(natural, scores.confidence.cpu()),
            "non_examples": [{k: v for k, v in row.items() if k != "attack"} for row in rows],
            **run_info(trainer, pl_module),
        }
        out = results_dir(trainer)
        write_json(out / f"{self.name}.json", payload)
        write_csv(out / f"{self.name}.csv", rows)
        log_table_and_curve(trainer, self.name, rows, x="target", ys=[])
        if images.ndim == 4:
            titles = [f"{row['class_name']}\n{row['confidence']:.1%}" + ("" if row["hit"] else f" → {names[row['prediction']]}") for row in rows]
            suptitle = f"{self.name}: mean confidence {payload['mean_confidence']:.1%}, AUROC {fmt(payload['detection_auroc'])}"
            box = payload["box"] or (images.min().item(), images.max().item())
            # generate() orders the images class by class; the grid has one column per class.
            order = [c * self.per_class + k for k in range(self.per_class) for c in range(pl_module.num_classes)]
            figure = non_example_grid(images[order].cpu(), [titles[i] for i in order], box, pl_module.num_classes, suptitle)
            save_picture(figure, out / f"{self.name}.png")
            log_image(trainer, f"{self.name}/images", out / f"{self.name}.png")
        print(f"\n{self.name}: mean confidence {payload['mean_confidence']:.4f}, target hit rate {payload['hit_rate']:.2f}, "
              f"AUROC natural vs non-examples {fmt(payload['detection_auroc'])}")


def class_names(trainer: Trainer, num_classes: int) -> list[str]:
    names = getattr(trainer.datamodule, "class_names", None) if trainer.datamodule else None
    return list(names) if names and len(names) == num_classes else [str(k) for k in range(num_classes)]


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
