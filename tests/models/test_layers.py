import math

import pytest
import torch

from advconf.models.layers import Normalize, PerImageStandardization, SamePad2d


@pytest.mark.parametrize(
    "size, kernel, stride, expected_pad",
    [(28, 8, 2, (3, 3)), (32, 8, 2, (3, 3)), (27, 8, 2, (3, 4)), (32, 3, 2, (0, 1)), (7, 5, 1, (2, 2))],
)
def test_same_padding_matches_tensorflow_formula(size, kernel, stride, expected_pad):
    pad = SamePad2d(kernel, stride)
    assert pad._pad(size) == expected_pad
    out = torch.nn.functional.conv2d(pad(torch.zeros(1, 1, size, size)), torch.zeros(1, 1, kernel, kernel), stride=stride)
    assert out.shape[-1] == math.ceil(size / stride)


def test_same_padding_puts_the_odd_pixel_bottom_right():
    x = torch.ones(1, 1, 27, 27)
    padded = SamePad2d(8, 2)(x)
    assert padded.shape[-2:] == (34, 34)
    assert padded[0, 0, :3].sum() == 0 and padded[0, 0, -4:].sum() == 0
    assert padded[0, 0, 3:-4, 3:-4].eq(1).all()


def test_per_image_standardization_matches_tf_definition():
    x = torch.rand(4, 3, 8, 8)
    out = PerImageStandardization()(x)
    flat = out.flatten(1)
    torch.testing.assert_close(flat.mean(1), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(flat.std(1, unbiased=False), torch.ones(4), atol=1e-5, rtol=0)


def test_per_image_standardization_of_a_constant_image_divides_by_one_over_sqrt_n():
    x = torch.full((1, 3, 4, 4), 0.5)
    x[0, 0, 0, 0] = 0.5 + 1e-4  # std far below 1/sqrt(48)
    out = PerImageStandardization()(x)
    mean = x.mean()
    torch.testing.assert_close(out, (x - mean) * math.sqrt(48))


def test_normalize_is_per_channel_and_not_in_state_dict():
    layer = Normalize([0.5, 0.25], [0.5, 0.25])
    out = layer(torch.tensor([0.5, 0.5]).view(1, 2, 1, 1))
    assert out.flatten().tolist() == [0.0, 1.0]
    assert layer.state_dict() == {}
