"""The ``advconf`` command: LightningCLI's fit/validate/test/predict, plus ``data`` and ``report``.

``advconf test --config C --ckpt_path K --attack pgd --attack.eps '[0.1, 0.2]'`` evaluates a checkpoint
with a preset (``advconf.presets``). Bad input ends in a one-line ``advconf: error: ...``.
"""

import errno
import logging
import sys
import warnings
from typing import Any

from jsonargparse import ArgumentParser
from lightning.pytorch import Trainer
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException

from advconf import presets
from advconf.atomic import atomic_open
from advconf.callbacks.finite_check import FiniteCheck
from advconf.callbacks.progress_bar import ThrottledProgressBar
from advconf.checkpoints import check_checkpoint_matches, load_checkpoint
from advconf.errors import AdvconfError
from advconf.module import Classifier
from advconf.reliability import AtomicCheckpointIO, Preempted, PreemptionCheckpoint
from advconf.run_directory import check_fit_directory, confine_to_run_directory, log_offline_if_wandb_cannot_go_online

EVALUATING = ("test", "validate")
# A write refused for one of these reasons is the environment's fault: one line, not a traceback.
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}
COUNT_OR_FRACTION = {f"trainer.limit_{stage}_batches" for stage in ("train", "val", "test", "predict")}
# Subcommands that are not Trainer methods: dispatched before LightningCLI, listed in its help.
TOOLS = {
    "data": ("advconf.data.commands", "Prepare data sets (FFCV .beton files, the MNIST sample)."),
    "report": ("advconf.report.command", "Tables and figures of many runs (the paper's layouts)."),
}


class AdvconfArgumentParser(LightningArgumentParser):
    """Config errors as one line (jsonargparse prints the whole usage before them).

    Prefix abbreviations are off: ``--trainer.max_epoch`` must not silently mean ``max_epochs``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str, ex: Exception | None = None) -> None:  # type: ignore[override]
        if not self.exit_on_error:
            super().error(message, ex)
        print(f"advconf: error: {' '.join(message.split())}", file=sys.stderr)
        raise SystemExit(2)


class SaveConfig(SaveConfigCallback):
    """The resolved config in the run directory, written atomically (a full disk or a kill mid-write
    keeps the previous file) and rewritten by requeued and resumed runs."""

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self.already_saved:
            return
        # trainer.log_dir is a broadcast: every rank must ask for it, or the ranks' collectives pair wrongly
        path = f"{trainer.log_dir}/{self.config_filename}"
        if trainer.is_global_zero:
            text = self.parser.dump(self.config, skip_none=False)
            with atomic_open(path) as f:
                f.write(text)
            self.already_saved = True
        self.already_saved = trainer.strategy.broadcast(self.already_saved)


class AdvconfCLI(LightningCLI):
    """LightningCLI with attack presets, a run directory that holds everything, and checks that run
    before any work: the checkpoint (read once), the run directory, the attack presets."""

    def __init__(self, *args: Any, attacks: presets.AttackOptions, **kwargs: Any) -> None:
        self.attacks = attacks
        self.checkpoint: dict[str, Any] | None = None
        super().__init__(*args, **kwargs)

    def _add_subcommands(self, parser: LightningArgumentParser, **kwargs: Any) -> None:
        super()._add_subcommands(parser, **kwargs)
        for name, (_, description) in TOOLS.items():  # so that `advconf --help` lists them
            parser._subcommands_action.add_subcommand(name, ArgumentParser(description=description), help=description)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # Lightning annotates these `float | int`, so jsonargparse would read `1` as 1.0 (all batches)
        # instead of one batch: try int first.
        for action in parser._actions:
            if action.dest in COUNT_OR_FRACTION:
                action._typehint = int | float | None
        parser.add_argument(
            "--attack_defaults",
            type=dict[str, dict[str, Any]],
            default={},
            help="Per-experiment attack settings: preset name -> options, applied under --attack NAME.",
        )

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        if self.attacks.names and self.subcommand not in EVALUATING:
            raise AdvconfError(f"--attack works with {' and '.join(EVALUATING)}, not {self.subcommand}")
        confine_to_run_directory(config.trainer)
        log_offline_if_wandb_cannot_go_online(config.trainer)
        evaluations = presets.build(self.attacks, config.get("attack_defaults") or {})
        configured = {c.get("class_path") for c in (config.trainer.get("callbacks") or []) if hasattr(c, "get")}
        safety = [cls() for cls in (FiniteCheck, PreemptionCheckpoint) if f"{cls.__module__}.{cls.__qualname__}" not in configured]
        self.trainer_defaults["callbacks"] = [*safety, *evaluations, *progress_bar(config.trainer, configured)]

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        # Added here, not as a config default, so the saved config.yaml stays loadable.
        plugins = self._get(self.config_init, "trainer", default={}).get("plugins") or []
        plugins = plugins if isinstance(plugins, list) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            plugins = [*plugins, AtomicCheckpointIO()]  # a kill mid-save never leaves a half-written checkpoint
        return super().instantiate_trainer(plugins=plugins, **kwargs)

    def instantiate_classes(self) -> None:
        # Nothing has run yet while classes are built, so any failure here is a config error.
        try:
            super().instantiate_classes()
        except (ValueError, TypeError, MisconfigurationException) as error:
            raise user_error(error) or AdvconfError(one_line(error)) from None

    def _checkpoint_file(self) -> str | None:
        """The ``--ckpt_path`` given, unless it is one Lightning resolves itself (last, best, hpc...)."""
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        return None if ckpt_path in (None, "last", "best", "hpc", "registry") else ckpt_path

    def _parse_ckpt_path(self) -> None:
        # Read the checkpoint once, safely (weights only), before any work; Lightning's own parse
        # only looks for saved hyperparameters, which the Classifier does not save.
        if self._checkpoint_file():
            self.checkpoint = load_checkpoint(self._checkpoint_file())

    def _before_run(self) -> None:
        if self.checkpoint is not None:
            check_checkpoint_matches(self._checkpoint_file(), self.model, self.checkpoint)
        if self.subcommand == "fit":
            check_fit_directory(self.trainer, self.config.fit.get("ckpt_path"))

    before_fit = before_validate = before_test = before_predict = _before_run

    def after_fit(self) -> None:
        callback = self.trainer.checkpoint_callback
        if self.trainer.is_global_zero and callback is not None and getattr(callback, "dirpath", None):
            print(f"advconf: checkpoints in {callback.dirpath} (resume with --ckpt_path last)")

    def _after_evaluation(self) -> None:
        # Lightning's predict loop ignores a SIGTERM, and one on a test's last batch lets the test finish
        # (its results are complete): the command still says it was interrupted.
        if self.trainer.received_sigterm:
            raise SIGTERMException(143)

    after_validate = after_test = after_predict = _after_evaluation


def progress_bar(trainer: Any, configured: set[str | None]) -> list[ThrottledProgressBar]:
    """The throttled bar, unless the config switches the bar off or chooses its own."""
    chosen = any(name and "ProgressBar" in name.rsplit(".", 1)[-1] for name in configured)
    return [] if trainer.get("enable_progress_bar") is False or chosen else [ThrottledProgressBar()]


def config_filename(subcommand: str) -> str:
    return "config.yaml" if subcommand == "fit" else f"{subcommand}-config.yaml"


def main(args: list[str] | None = None) -> None:
    """Entry point of ``advconf`` and ``python -m advconf``; tests call it with ``args=[...]``."""
    args = list(sys.argv[1:] if args is None else args)
    subcommand = next((a for a in args if not a.startswith("-")), "fit")
    # A handler that cannot write (a full disk) must not print a 50-line "Logging error" per record.
    logging.raiseExceptions = False
    try:
        if args[:1] and args[0] in TOOLS:
            tool = __import__(TOOLS[args[0]][0], fromlist=["main"])
            raise SystemExit(tool.main(args[1:]))
        rest, attacks = presets.split_args(args)
        # LightningCLI warns when both sys.argv and args are given; main() always passes args.
        warnings.filterwarnings("ignore", message=".*args parameter is intended to run from within Python.*")
        AdvconfCLI(
            Classifier,
            subclass_mode_model=False,
            parser_class=AdvconfArgumentParser,
            args=rest,
            attacks=attacks,
            # Requeued and re-run jobs rewrite their config; test/validate runs keep the fit's config.yaml.
            save_config_callback=SaveConfig,
            save_config_kwargs={"overwrite": True, "config_filename": config_filename(subcommand)},
            trainer_defaults={"inference_mode": False},  # attacks at test time need input gradients
            parser_kwargs={"prog": "advconf", "description": "Train and attack low-precision, regularised classifiers."},
            auto_configure_optimizers=False,
        )
    except Preempted as stopped:
        fail(str(stopped), stopped.code)
    except SIGTERMException:
        fail(f"interrupted by a signal during {subcommand}; no checkpoint was written", 143)
    except OSError as error:
        if error.errno not in WRITE_ERRORS:
            raise
        fail(f"cannot write {error.filename or 'a file'}: {error.strerror}", 2)
    except Exception as error:
        # jsonargparse wraps errors raised while instantiating classes from the config.
        cause = user_error(error)
        if cause is None:
            raise
        fail(one_line(cause), 2)
    finally:
        finish_wandb_run()


def fail(message: str, status: int) -> None:
    """One line on stderr; on the process's own stderr when W&B's capture of it cannot write (a full disk)."""
    try:
        print(f"advconf: error: {message}", file=sys.stderr, flush=True)
    except OSError:
        print(f"advconf: error: {message}", file=sys.__stderr__, flush=True)
    raise SystemExit(status) from None


def one_line(error: BaseException) -> str:
    """The error's message on one line. An error re-raised from a DataLoader worker carries the
    worker's traceback in its message: keep only the message itself."""
    text = str(error)
    if "Original Traceback" in text:
        text = next((line for line in reversed(text.splitlines()) if line.strip()), text)
        text = text.split(": ", 1)[1] if text.startswith(type(error).__name__ + ":") else text
    return " ".join(text.split())


def user_error(error: BaseException | None) -> AdvconfError | None:
    """The AdvconfError that ``error`` is, or was caused by, if any."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, AdvconfError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def finish_wandb_run() -> None:
    """Close the W&B run so its offline files are complete when the command returns (on a full disk
    it cannot be: the run's own error has been reported already)."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        try:
            wandb.run.finish()
        except OSError:
            pass


if __name__ == "__main__":
    main()
