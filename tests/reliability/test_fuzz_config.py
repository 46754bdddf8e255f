"""Property-based bad-input tests: attack, quantisation and CLI values either work or fail cleanly
(an ``AdvconfError``, or ``SystemExit(2)`` with one ``advconf: error:`` line), never deep inside a run."""

import contextlib
import io

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from advconf.attacks import FGSM, PGD
from advconf.callbacks.quantization import Quantization
from advconf.errors import AdvconfError
from tests.helpers import run_cli, tiny_spheres_config

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLI_FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values a YAML file or a typo can produce, valid ones included.
anything = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 12), st.integers(min_value=2**31),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["", "abc", "1", "linf", "l2", "L2"]),
    st.lists(st.integers(0, 3), max_size=2),
)


def optional_kwargs(*names: str) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({}, optional={name: anything for name in names})


def small_image_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3))


def check_attack_output(attack, eps, box) -> None:
    """Run ``attack`` on a toy batch; a result must be finite, in the box and in the eps-ball."""
    x, y = torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])
    try:
        x_adv = attack(small_image_model(), x, y, eps=eps, box=box)
    except AdvconfError:
        return
    assert x_adv.shape == x.shape and torch.isfinite(x_adv).all()
    if box is not None:
        assert x_adv.min() >= box[0] and x_adv.max() <= box[1]
    if getattr(attack, "norm", "linf") == "linf":
        assert (x_adv - x).abs().max() <= eps + 1e-6


boxes = st.one_of(st.none(), st.just((0.0, 1.0)), st.tuples(anything, anything), anything)
eps_values = st.one_of(anything, st.floats(0, 0.5))


def quick(kwargs: dict, **limits: int) -> dict:
    """``kwargs`` with valid but slow counts (steps, restarts, gradient samples) cut down: speed is not under test."""
    return {**kwargs, **{k: v for k, v in limits.items() if isinstance(kwargs.get(k), int) and kwargs[k] > v}}


@FUZZ
@given(kwargs=optional_kwargs("steps", "step_size", "rel_step_size", "norm", "random_start", "restarts", "targeted",
                              "gradient_samples", "seed"),
       eps=eps_values, box=boxes)
def test_pgd_any_arguments_build_and_run_or_raise_advconf_error(kwargs, eps, box):
    try:
        attack = PGD(**quick(kwargs, steps=3, restarts=1, gradient_samples=2))
    except AdvconfError:
        return
    check_attack_output(attack, eps, box)


@FUZZ
@given(kwargs=optional_kwargs("norm", "targeted", "gradient_samples"), eps=eps_values, box=boxes)
def test_fgsm_any_arguments_build_and_run_or_raise_advconf_error(kwargs, eps, box):
    try:
        attack = FGSM(**quick(kwargs, gradient_samples=2))
    except AdvconfError:
        return
    check_attack_output(attack, eps, box)


@FUZZ
@given(kwargs=optional_kwargs("weight_bits", "activation_bits", "gradient_bits"))
def test_quantization_bits_are_accepted_only_as_1_to_8_or_32(kwargs):
    bits = [kwargs.get(k, 32) for k in ("weight_bits", "activation_bits", "gradient_bits")]
    valid = all(isinstance(b, int) and not isinstance(b, bool) and (1 <= b <= 8 or b == 32) for b in bits)
    if valid:
        Quantization(**kwargs)
    else:
        with pytest.raises(AdvconfError):
            Quantization(**kwargs)


# --- the command line -------------------------------------------------------------------------------

def cli_outcome(args: list) -> str | None:
    """None when the command succeeded, else its one-line error; anything else fails the test."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            run_cli(args)
    except SystemExit as stop:
        if stop.code in (0, None):
            return None
        lines = err.getvalue().strip().splitlines()
        assert stop.code == 2 and lines and lines[-1].startswith("advconf: error:"), err.getvalue()[-2000:]
        assert "Traceback" not in err.getvalue()
        return lines[-1]
    return None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    config = tiny_spheres_config(root)
    run_cli(["fit", "--config", config, "--trainer.max_epochs", "1", "--trainer.logger", "false"])
    return config, root / "checkpoints" / "tiny" / "ckpt" / "last.ckpt"


cli_values = st.one_of(st.integers(-3, 3), st.sampled_from(["abc", "nan", "inf", "-inf", "0.5", "[]", "null", "true", "", "[1, 2]"]))
FIT_OPTIONS = ["--trainer.max_epochs", "--data.init_args.train_size", "--data.init_args.batch_size",
               "--data.init_args.val_size", "--data.init_args.dim", "--model.model.init_args.width"]
# One step of training at most: valid values must not make the test slow.
QUICK_FIT = ["--trainer.max_steps", "1", "--trainer.limit_val_batches", "1", "--trainer.logger", "false",
             "--trainer.num_sanity_val_steps", "0"]


def quick_fit(config, *override) -> list:
    return ["fit", "--config", config, *QUICK_FIT, *override]


@pytest.mark.slow
@CLI_FUZZ
@given(option=st.sampled_from(FIT_OPTIONS), value=cli_values)
def test_fit_overrides_work_or_fail_with_one_line(tiny, option, value):
    if option == "--data.init_args.batch_size" and value == 1:
        value = 2  # known crash, see test_batch_size_one_with_batch_norm_fails_with_one_line
    cli_outcome(quick_fit(tiny[0], option, str(value)))


@pytest.mark.slow
@CLI_FUZZ
@given(eps=st.one_of(cli_values, st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=3).map(str)),
       steps=cli_values)
def test_attack_overrides_work_or_fail_with_one_line(tiny, eps, steps):
    config, ckpt = tiny
    cli_outcome(["test", "--config", config, "--ckpt_path", ckpt, "--trainer.logger", "false", "--trainer.limit_test_batches", "1",
                 "--attack", "pgd", "--attack.eps", str(eps), "--attack.steps", str(steps)])


@pytest.mark.slow
def test_negative_learning_rate_fails_with_one_line(tiny):
    cli_outcome(quick_fit(tiny[0], "--model.optimizer.init_args.lr", "-3"))


@pytest.mark.slow
def test_batch_size_one_with_batch_norm_fails_with_one_line(tiny):
    cli_outcome(quick_fit(tiny[0], "--data.init_args.batch_size", "1"))
