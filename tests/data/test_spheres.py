import math

import pytest
import torch

from advconf.data.spheres import SpheresDataModule
from advconf.errors import AdvconfError


def _data(**kwargs):
    dm = SpheresDataModule(**{"train_size": 2000, "val_size": 100, "test_size": 2000, **kwargs})
    dm.setup("fit")
    return dm


def test_points_lie_on_the_two_spheres_with_outer_labelled_one():
    dm = _data(dim=5)
    x, y = dm.datasets["test"].tensors
    radius = x.norm(dim=1)
    assert torch.allclose(radius[y == 0], torch.tensor(1.0), atol=1e-5)
    assert torch.allclose(radius[y == 1], torch.tensor(1.3), atol=1e-5)
    assert (y == 0).sum() == (y == 1).sum() == 1000


def test_opposing_quadrants_are_removed_from_training_but_not_from_test():
    dm = _data()
    angle = lambda x: torch.atan2(x[:, 1], x[:, 0]) % (2 * math.pi)  # noqa: E731
    quadrant = lambda x: (angle(x) // (math.pi / 2)).long()  # noqa: E731
    train_quadrants = quadrant(dm.datasets["train"].tensors[0]).bincount(minlength=4)
    test_quadrants = quadrant(dm.datasets["test"].tensors[0]).bincount(minlength=4)
    assert train_quadrants[1] == 0 and train_quadrants[3] == 0
    assert train_quadrants[0] > 800 and train_quadrants[2] > 800
    assert (test_quadrants > 400).all()


def test_half_region_keeps_the_upper_half_plane():
    x = _data(train_region="half").datasets["train"].tensors[0]
    assert (x[:, 1] >= -1e-6).all()


def test_same_seed_gives_the_same_data_and_another_seed_does_not():
    a, b, c = _data(seed=3), _data(seed=3), _data(seed=4)
    assert torch.equal(a.datasets["train"].tensors[0], b.datasets["train"].tensors[0])
    assert not torch.equal(a.datasets["train"].tensors[0], c.datasets["train"].tensors[0])


def test_spheres_are_unbounded_raw_coordinates():
    assert SpheresDataModule.input_box is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dim": 1}, "dim"),
        ({"inner_radius": 1.5, "outer_radius": 1.3}, "radii"),
        ({"train_size": 0}, "train_size"),
        ({"batch_size": -1}, "batch_size"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(AdvconfError, match=message):
        SpheresDataModule(**kwargs)


def test_training_region_rule_by_hand_and_every_sampled_training_point_follows_it():
    from advconf.data.spheres import in_region

    angles = torch.tensor([0.3, 2.0, 3.5, 5.0])  # one per quadrant
    assert in_region(angles, "opposing_quadrants_removed").tolist() == [True, False, True, False]
    assert in_region(angles, "half").tolist() == [True, True, False, False]
    assert in_region(angles, "full").all()
    for region in ("half", "opposing_quadrants_removed"):
        data = SpheresDataModule(train_size=500, train_region=region)
        data.setup("fit")
        x = data.datasets["train"].tensors[0]
        trained = data.in_training_region(torch.atan2(x[:, 1], x[:, 0]) % (2 * math.pi))
        assert trained.all(), region
