"""Non-example gradient ascent: target probability rises, images stay in the box, seeds reproduce."""

import pytest
import torch
from torch import nn

from advconf.attacks import NonExampleAscent, score_non_examples
from advconf.errors import AdvconfError


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))


@pytest.mark.parametrize("sign", [True, False])
def test_ascent_raises_target_probability_and_stays_in_box(sign):
    model = small_cnn()
    ascent = NonExampleAscent(steps=30, step_size=0.05 if sign else 0.5, sign=sign)
    images, targets = ascent.generate(model, num_classes=3, shape=(1, 8, 8), per_class=2)
    assert images.shape == (6, 1, 8, 8)
    assert torch.equal(targets, torch.tensor([0, 0, 1, 1, 2, 2]))
    assert images.min() >= 0 and images.max() <= 1
    before = score_non_examples(model, *ascent.start(num_classes=3, shape=(1, 8, 8), per_class=2))
    after = score_non_examples(model, images, targets)
    assert (after.target_probability > before.target_probability).all()
    assert after.hit.all()
    assert torch.equal(after.hit, after.prediction == targets)
    torch.testing.assert_close(after.confidence, after.target_probability)  # a hit's confidence is p(target)


def test_classes_share_the_starting_noise_and_it_is_clipped():
    start, _ = NonExampleAscent(noise_std=0.5).start(num_classes=3, shape=(1, 8, 8), per_class=2)
    assert torch.equal(start[:2], start[2:4]) and torch.equal(start[:2], start[4:])
    assert not torch.equal(start[0], start[1])
    assert start.min() == 0 and start.max() <= 1 and (start > 0).any()


def test_same_seed_reproduces_and_other_seed_differs():
    model = small_cnn()
    first, _ = NonExampleAscent(steps=5, seed=3).generate(model, 3, (1, 8, 8))
    second, _ = NonExampleAscent(steps=5, seed=3).generate(model, 3, (1, 8, 8))
    other, _ = NonExampleAscent(steps=5, seed=4).generate(model, 3, (1, 8, 8))
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("training", [True, False])
def test_model_mode_kept_and_no_parameter_gradients(training):
    model = small_cnn().train(training)
    NonExampleAscent(steps=2).generate(model, 3, (1, 8, 8))
    assert model.training == training
    assert all(p.grad is None for p in model.parameters())


def test_works_inside_inference_mode():
    model = small_cnn()
    with torch.inference_mode():
        images, targets = NonExampleAscent(steps=2).generate(model, 3, (1, 8, 8))
        scores = score_non_examples(model, images, targets)
    assert scores.target_probability.shape == (3,)


def test_single_logit_model_gets_both_classes():
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    images, targets = NonExampleAscent(steps=50, step_size=0.05).generate(model, 2, (4,), box=None)
    assert score_non_examples(model, images, targets).hit.all()


@pytest.mark.parametrize(
    "kwargs,message",
    [({"steps": 0}, "steps"), ({"step_size": 0.0}, "step_size"), ({"noise_std": -1.0}, "noise_std"), ({"seed": None}, "seed")],
)
def test_bad_constructor_args_raise(kwargs, message):
    with pytest.raises(AdvconfError, match=message):
        NonExampleAscent(**kwargs)


def test_bad_generate_args_raise():
    with pytest.raises(AdvconfError, match="num_classes"):
        NonExampleAscent().generate(small_cnn(), 1, (1, 8, 8))
    with pytest.raises(AdvconfError, match="per_class"):
        NonExampleAscent().generate(small_cnn(), 3, (1, 8, 8), per_class=0)
