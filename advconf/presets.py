"""Attack presets on the command line: ``--attack NAME`` (repeatable) and ``--attack.KEY VALUE``.

A preset is a YAML file ``{class_path: <an Evaluation>, init_args: {...}}``. The presets advconf
ships live inside the package (``advconf/presets/``; the repository shows them as
``configs/attacks/``), so an installed advconf finds them from any directory. A project's own presets
go into ``./configs/attacks/`` (searched first), or are given by path (``--attack my/preset.yaml``).

``--attack.KEY VALUE`` sets ``KEY`` on every selected preset that has it: the evaluation's own
option (``eps``, ``name``, ``skip_decided`` ...) or else its attack's (``steps``, ``norm`` ...). Values
are read as YAML (``0.1`` is a number, ``[0.1, 0.2]`` a list) and simple fractions (``8/255``) as
numbers. An experiment config's ``attack_defaults: {NAME: {KEY: VALUE}}`` are applied first.
"""

import importlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import ArgumentParser
from lightning.pytorch import Callback

from advconf.budgets import is_fraction, parse_budget
from advconf.errors import AdvconfError

PACKAGED = Path(__file__).resolve().parent / "presets"
ALIASES = {"fooling": "non-examples"}  # old name -> current name


@dataclass
class AttackOptions:
    """What ``--attack`` and ``--attack.KEY`` asked for."""

    names: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)


def split_args(args: list[str]) -> tuple[list[str], AttackOptions]:
    """Take ``--attack NAME`` and ``--attack.KEY VALUE`` (or ``=VALUE``) out of ``args``."""
    rest, options = [], AttackOptions()
    i = 0
    while i < len(args):
        key, eq, value = args[i].partition("=")
        if key == "--attack" or key.startswith("--attack."):
            if not eq:
                if i + 1 >= len(args):
                    raise AdvconfError(f"{args[i]} needs a value")
                i += 1
                value = args[i]
            if key == "--attack":
                options.names.append(value)
            else:
                options.overrides[key.removeprefix("--attack.")] = read_value(value)
        else:
            rest.append(args[i])
        i += 1
    if options.overrides and not options.names:
        raise AdvconfError("--attack.KEY overrides need at least one --attack NAME")
    return rest, options


def read_value(text: str) -> Any:
    """A command-line value as YAML, with simple fractions (``8/255``) as numbers."""
    try:
        return numbers_from_fractions(yaml.safe_load(text))
    except yaml.YAMLError:
        return text


def numbers_from_fractions(value: Any) -> Any:
    if is_fraction(value):
        return parse_budget(value)
    if isinstance(value, list):
        return [numbers_from_fractions(v) for v in value]
    return value


def preset_dirs() -> list[Path]:
    """Where ``--attack NAME`` looks for ``NAME.yaml``: ./configs/attacks, then advconf's own presets."""
    here = Path.cwd() / "configs" / "attacks"
    return [PACKAGED] if here.resolve() == PACKAGED else [here, PACKAGED]


def available() -> list[str]:
    names = {p.stem for d in preset_dirs() if d.is_dir() for p in d.glob("*.yaml")}
    return sorted(names | {alias for alias, name in ALIASES.items() if name in names})


def find(name: str) -> Path:
    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        return Path(name)
    name = ALIASES.get(name, name)
    for directory in preset_dirs():
        if (directory / f"{name}.yaml").is_file():
            return directory / f"{name}.yaml"
    raise AdvconfError(f"unknown attack {name!r}; available presets: {', '.join(available()) or 'none'}")


def load(name: str) -> dict[str, Any]:
    path = find(name)
    try:
        preset = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise AdvconfError(f"attack preset {path} cannot be read: {' '.join(str(error).split())}") from None
    if not isinstance(preset, dict) or "class_path" not in preset:
        raise AdvconfError(f"attack preset {path} must be a mapping with a class_path and init_args")
    return preset


def with_option(preset: dict[str, Any], key: str, value: Any) -> dict[str, Any] | None:
    """``preset`` with ``key`` set on the evaluation when it has that option, else on its attack; None
    when neither has it."""
    init_args = dict(preset.get("init_args") or {})
    if key in init_arg_names(preset["class_path"]):
        return {**preset, "init_args": {**init_args, key: value}}
    attack = init_args.get("attack")
    if isinstance(attack, dict) and "class_path" in attack and key in init_arg_names(attack["class_path"]):
        attack = {**attack, "init_args": {**(attack.get("init_args") or {}), key: value}}
        return {**preset, "init_args": {**init_args, "attack": attack}}
    return None


def init_arg_names(class_path: str) -> list[str]:
    module, _, name = class_path.rpartition(".")
    try:
        target = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise AdvconfError(f"attack preset class {class_path!r} does not exist") from None
    return list(inspect.signature(target.__init__).parameters)[1:]


def build(options: AttackOptions, defaults: dict[str, dict[str, Any]]) -> list[Callback]:
    """One evaluation callback per selected preset: the preset, then the experiment's defaults for it,
    then the command line's overrides.

    An override that no selected preset has is an error, and so is an experiment default the preset
    does not have. Two evaluations that would write the same results file are an error.
    """
    unknown = sorted(ALIASES.get(name, name) for name in defaults if ALIASES.get(name, name) not in available())
    if unknown:
        raise AdvconfError(f"attack_defaults names unknown presets {unknown}; available: {available()}")
    defaults = {ALIASES.get(name, name): values for name, values in defaults.items()}
    selected = [(name, load(name)) for name in options.names]
    for key in options.overrides:
        if all(with_option(preset, key, None) is None for _, preset in selected):
            raise AdvconfError(f"no selected attack has an option {key!r} (attacks: {', '.join(options.names)})")
    callbacks = []
    for name, preset in selected:
        experiment = numbers_from_fractions_in(defaults.get(ALIASES.get(name, name), {}))
        for key, value in {**experiment, **options.overrides}.items():
            updated = with_option(preset, key, value)
            if updated is None and key not in options.overrides:
                raise AdvconfError(f"attack_defaults for {name!r}: the preset has no option {key!r}")
            preset = updated or preset
        callbacks.append(instantiate(name, preset))
    names = [callback.name for callback in callbacks]
    if len(set(names)) != len(names):
        raise AdvconfError(f"two attacks would write the same results file: {names}")
    return callbacks


def numbers_from_fractions_in(values: dict[str, Any]) -> dict[str, Any]:
    return {key: numbers_from_fractions(value) for key, value in values.items()}


def instantiate(name: str, preset: dict[str, Any]) -> Callback:
    """Type-checked instantiation through jsonargparse (strings from the command line become numbers...)."""
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--callback", type=Callback)
    try:
        config = parser.parse_object({"callback": {"class_path": preset["class_path"], "init_args": preset.get("init_args") or {}}})
        return parser.instantiate_classes(config).callback
    except Exception as error:  # jsonargparse reports type and key errors as multi-line text
        cause = error
        while cause is not None and not isinstance(cause, AdvconfError):
            cause = cause.__cause__ or cause.__context__
        raise AdvconfError(f"attack {name!r}: {' '.join(str(cause or error).split())}") from None
