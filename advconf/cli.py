"""The ``advconf`` command: LightningCLI (fit/validate/test/predict) plus ``--attack`` presets.

``advconf test --config C --ckpt_path K --attack pgd --attack.eps '[0.1, 0.2]'`` evaluates a checkpoint
with the preset ``configs/attacks/pgd.yaml``. Bad input ends in a one-line ``advconf: error: ...``.
"""

import importlib
import inspect
import sys
import warnings
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import ArgumentParser
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from advconf.checkpoints import check_checkpoint_file, check_checkpoint_matches
from advconf.errors import AdvconfError
from advconf.module import Classifier
from advconf.callbacks.finite_check import FiniteCheck
from advconf.reliability import AtomicCheckpointIO, PreemptionCheckpoint

ATTACK_SUBCOMMANDS = ("test", "validate")
CHECKPOINT_SUBCOMMANDS = ("fit", "validate", "test", "predict")


def presets_dirs() -> list[Path]:
    """Where ``--attack NAME`` looks for ``NAME.yaml``: ./configs/attacks, then the checkout's."""
    here = Path.cwd() / "configs" / "attacks"
    bundled = Path(__file__).resolve().parents[1] / "configs" / "attacks"
    return [here] if here == bundled else [here, bundled]


def available_presets() -> list[str]:
    return sorted({p.stem for d in presets_dirs() if d.is_dir() for p in d.glob("*.yaml")})


def find_preset(name: str) -> Path:
    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        return Path(name)
    for directory in presets_dirs():
        if (directory / f"{name}.yaml").is_file():
            return directory / f"{name}.yaml"
    raise AdvconfError(f"unknown attack {name!r}; available presets: {', '.join(available_presets()) or 'none'}")


def split_attack_args(args: list[str]) -> tuple[list[str], list[str], dict[str, str]]:
    """Take ``--attack NAME`` (repeatable) and ``--attack.KEY VALUE`` out of ``args``."""
    rest, names, overrides = [], [], {}
    i = 0
    while i < len(args):
        arg = args[i]
        key, eq, value = arg.partition("=")
        if key == "--attack" or key.startswith("--attack."):
            if not eq:
                if i + 1 >= len(args):
                    raise AdvconfError(f"{arg} needs a value")
                value, i = args[i + 1], i + 1
            if key == "--attack":
                names.append(value)
            else:
                # YAML typing, as in config files: "0.1" is a number, "[0.1, 0.2]" a list
                overrides[key.removeprefix("--attack.")] = yaml.safe_load(value)
        else:
            rest.append(arg)
        i += 1
    if overrides and not names:
        raise AdvconfError("--attack.KEY overrides need at least one --attack NAME")
    return rest, names, overrides


def load_preset(name: str) -> dict[str, Any]:
    path = find_preset(name)
    preset = yaml.safe_load(path.read_text()) or {}
    if not isinstance(preset, dict) or "class_path" not in preset:
        raise AdvconfError(f"attack preset {path} must have a class_path and init_args")
    return preset


def with_option(config: dict[str, Any], key: str, value: Any) -> dict[str, Any] | None:
    """``config`` (a ``class_path`` + ``init_args`` dict) with ``key`` set where it belongs, or None.

    The key goes to the outermost class that has it: the evaluation callback, else the attack it
    runs, else the attack that one wraps (EOT around PGD), and so on.
    """
    init_args = dict(config.get("init_args") or {})
    if key in _init_arg_names(config["class_path"]):
        return {**config, "init_args": {**init_args, key: value}}
    inner = init_args.get("attack")
    if isinstance(inner, dict) and "class_path" in inner:
        updated = with_option(inner, key, value)
        if updated is not None:
            return {**config, "init_args": {**init_args, "attack": updated}}
    return None


def build_attack_callbacks(names: list[str], overrides: dict[str, Any], defaults: dict[str, dict]) -> list[Callback]:
    """Instantiate each preset with experiment defaults, then ``--attack.KEY`` overrides, applied.

    An override goes to every selected preset that has that option (see ``with_option``); one that
    no selected preset has is an error, and so is an experiment default the preset does not have.
    """
    presets = {name: load_preset(name) for name in names}
    for key in overrides:
        if all(with_option(preset, key, None) is None for preset in presets.values()):
            raise AdvconfError(f"no selected attack has an option {key!r} (attacks: {', '.join(names)})")
    callbacks = []
    for name, preset in presets.items():
        for key, value in {**defaults.get(name, {}), **overrides}.items():
            updated = with_option(preset, key, value)
            if updated is None and key not in overrides:
                raise AdvconfError(f"attack_defaults for {name!r}: the preset has no option {key!r}")
            preset = updated or preset
        callbacks.append(instantiate_callback(name, preset["class_path"], preset.get("init_args") or {}))
    return callbacks


def instantiate_callback(name: str, class_path: str, init_args: dict[str, Any]) -> Callback:
    """Type-checked instantiation through jsonargparse (strings from the command line become numbers...)."""
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--callback", type=Callback)
    try:
        config = parser.parse_object({"callback": {"class_path": class_path, "init_args": init_args}})
        return parser.instantiate_classes(config).callback
    except Exception as error:  # jsonargparse reports type and key errors as multi-line text
        raise AdvconfError(f"attack {name!r}: {one_line(user_error(error) or error)}") from None


def _init_arg_names(class_path: str) -> list[str]:
    module, _, name = class_path.rpartition(".")
    try:
        target = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise AdvconfError(f"attack preset class {class_path!r} does not exist") from None
    return list(inspect.signature(target.__init__).parameters)[1:]


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


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


def reliability_callbacks(config: Any) -> list[Callback]:
    """Every run stops on non-finite numbers and checkpoints on preemption, unless its config already does."""
    configured = {c.get("class_path") for c in (config.get("trainer", {}).get("callbacks") or []) if hasattr(c, "get")}
    defaults = [FiniteCheck, PreemptionCheckpoint]
    return [cls() for cls in defaults if f"{cls.__module__}.{cls.__qualname__}" not in configured]


class AdvconfCLI(LightningCLI):
    def __init__(self, *args: Any, attack_names: list[str], attack_overrides: dict[str, str], **kwargs: Any) -> None:
        self.attack_names = attack_names
        self.attack_overrides = attack_overrides
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--attack_defaults",
            type=dict[str, dict[str, Any]],
            default={},
            help="Per-experiment attack settings: preset name -> overrides, applied under --attack NAME.",
        )

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        if self.attack_names and self.subcommand not in ATTACK_SUBCOMMANDS:
            raise AdvconfError(f"--attack works with {' and '.join(ATTACK_SUBCOMMANDS)}, not {self.subcommand}")
        defaults = config.get("attack_defaults") or {}
        unknown = sorted(set(defaults) - set(available_presets()))
        if unknown:
            raise AdvconfError(f"attack_defaults names unknown presets {unknown}; available: {available_presets()}")
        callbacks = build_attack_callbacks(self.attack_names, self.attack_overrides, defaults)
        names = [cb.name for cb in callbacks]
        if len(set(names)) != len(names):
            raise AdvconfError(f"two attacks would write the same results file: {names}")
        self.trainer_defaults["callbacks"] = [*reliability_callbacks(config), *callbacks]

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
        # LightningCLI reads the checkpoint while parsing: refuse a bad file before it does.
        if self._checkpoint_file():
            check_checkpoint_file(self._checkpoint_file())
        super()._parse_ckpt_path()

    def _check_checkpoint(self) -> None:
        if self._checkpoint_file():
            check_checkpoint_matches(self._checkpoint_file(), self.model)

    before_fit = before_validate = before_test = before_predict = _check_checkpoint


def config_filename(subcommand: str) -> str:
    return "config.yaml" if subcommand == "fit" else f"{subcommand}-config.yaml"


def main(args: list[str] | None = None) -> None:
    """Entry point of ``advconf`` and ``python -m advconf``; tests call it with ``args=[...]``."""
    args = list(sys.argv[1:] if args is None else args)
    try:
        if args[:1] == ["data"]:
            from advconf.data.commands import main as data_main

            raise SystemExit(data_main(args[1:]))
        if args[:1] == ["report"]:
            from advconf.report.command import main as report_main

            raise SystemExit(report_main(args[1:]))
        rest, names, overrides = split_attack_args(args)
        subcommand = next((a for a in rest if not a.startswith("-")), "fit")
        # LightningCLI warns when both sys.argv and args are given; main() always passes args.
        warnings.filterwarnings("ignore", message=".*args parameter is intended to run from within Python.*")
        AdvconfCLI(
            Classifier,
            subclass_mode_model=False,
            parser_class=AdvconfArgumentParser,
            args=rest,
            attack_names=names,
            attack_overrides=overrides,
            # Requeued and re-run jobs rewrite their config; test/validate runs keep the fit's config.yaml.
            save_config_kwargs={"overwrite": True, "config_filename": config_filename(subcommand)},
            trainer_defaults={"inference_mode": False},  # attacks at test time need input gradients
            auto_configure_optimizers=False,
        )
    except Exception as error:
        # jsonargparse wraps errors raised while instantiating classes from the config.
        cause = user_error(error)
        if cause is None:
            raise
        print(f"advconf: error: {one_line(cause)}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        finish_wandb_run()


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
    """Close the W&B run so its offline files are complete when the command returns."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.run.finish()


if __name__ == "__main__":
    main()
