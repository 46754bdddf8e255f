"""DoReFa quantisers against hand-computed values (tensorpack semantics, round half to even)."""

import pytest
import torch

from advconf.quant import check_bits, quantize_activation, quantize_gradient, quantize_k, quantize_weight


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


@pytest.mark.parametrize(
    ("bits", "x", "expected"),
    [
        (1, t(0.0, 0.3, 0.5, 0.51, 1.0), t(0, 0, 0, 1, 1)),  # 0.5 rounds half to even
        (2, t(0.0, 0.2, 0.5, 0.7, 1.0), t(0, 1 / 3, 2 / 3, 2 / 3, 1)),
        (3, t(0.1, 0.5, 0.93), t(1 / 7, 4 / 7, 1)),
        (8, t(0.2, 0.123, 1.0), t(51 / 255, 31 / 255, 1)),
    ],
)
def test_quantize_k_rounds_to_the_k_bit_grid(bits, x, expected):
    torch.testing.assert_close(quantize_k(x, bits), expected)


@pytest.mark.parametrize("bits", [1, 2, 3, 8])
def test_quantize_k_passes_the_gradient_straight_through(bits):
    x = torch.rand(10, requires_grad=True)
    g = torch.randn(10)
    quantize_k(x, bits).backward(g)
    assert torch.equal(x.grad, g)


@pytest.mark.parametrize("fn", [quantize_k, quantize_weight, quantize_activation, quantize_gradient])
def test_32_bits_returns_the_input_itself(fn):
    x = torch.randn(3, 4)
    assert fn(x, 32) is x


def test_1_bit_weights_are_sign_times_mean_abs_with_zero_kept_at_zero():
    # TensorFlow's sign(0) = 0 (tensorpack's tf.sign(x / E) * E): E = mean|W| = 1.8 / 4 = 0.45.
    w = t(0.2, -0.6, 0.0, 1.0).requires_grad_()
    w_q = quantize_weight(w, 1)
    torch.testing.assert_close(w_q, t(0.45, -0.45, 0.0, 0.45))
    g = t(1.0, 2.0, 3.0, 4.0)
    w_q.backward(g)
    assert torch.equal(w.grad, g)  # straight through, nothing through E = mean|W|


def test_1_bit_weights_map_negative_zero_to_zero():
    assert torch.equal(quantize_weight(t(-0.0, 2.0), 1), t(0.0, 1.0))


@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        (2, t(1 / 3, 1 / 3, -1, 1)),
        (3, t(1 / 7, 3 / 7, -5 / 7, 1)),
        (8, t(1 / 255, 123 / 255, -201 / 255, 1)),
    ],
)
def test_k_bit_weights_are_tanh_normalised_and_not_rescaled(bits, expected):
    # tanh(W)/max|tanh W| * 0.5 + 0.5 = [0.5, 0.7397, 0.1050, 1.0]; 0.5 is a tie and rounds to even.
    w = t(0.0, 0.5, -1.0, 2.0)
    torch.testing.assert_close(quantize_weight(w, bits), expected)


@pytest.mark.parametrize("bits", range(2, 9))
def test_k_bit_weights_are_bit_identical_to_tensorpacks_operation_order(bits):
    """Every element, ties included, against tensorpack's `fw` written out here in its own order."""
    n = 2**bits - 1
    g = torch.Generator().manual_seed(bits)
    # Weights at several scales, and weights whose tanh/max lands on the rounding ties (x·n = j + 0.5).
    ties = torch.atanh(((torch.arange(n) + 0.5) / n * 2 - 1) * torch.tanh(torch.tensor(3.0)))
    w = torch.cat([torch.randn(200_000, generator=g), 1e-6 * torch.randn(1000, generator=g), 40 * torch.randn(1000, generator=g),
                   ties, torch.tensor([3.0, -3.0, 0.0, -0.0, 1e-30])])
    x = torch.tanh(w)
    x = x / x.abs().max() * 0.5 + 0.5
    expected = 2 * (torch.round(x * n) / n) - 1
    assert torch.equal(quantize_weight(w, bits), expected)


@pytest.mark.parametrize("w", [torch.randn(6), t(1.0, -1.0, 0.3, 0.0), torch.randn(3, 2, 2)], ids=["random", "tied_max", "4d"])
def test_k_bit_weight_gradient_skips_only_the_rounding(w):
    w = w.clone().requires_grad_()
    g = torch.randn(w.shape)
    quantize_weight(w, 2).backward(g)
    w_ref = w.detach().clone().requires_grad_()
    x = torch.tanh(w_ref)
    (2 * (x / x.abs().amax() * 0.5 + 0.5) - 1).backward(g)
    torch.testing.assert_close(w.grad, w_ref.grad)


def test_k_bit_weight_gradient_of_a_channels_last_conv_weight_equals_the_contiguous_one():
    w = torch.randn(4, 3, 2, 2)
    g = torch.randn(4, 3, 2, 2)
    grads = []
    for weight in (w.clone(), w.clone().to(memory_format=torch.channels_last)):
        weight.requires_grad_()
        quantize_weight(weight, 2).backward(g)
        grads.append(weight.grad)
    torch.testing.assert_close(grads[1], grads[0])


@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        (1, t(0, 0, 0, 1, 1)),
        (2, t(0, 1 / 3, 2 / 3, 1, 1)),
        (3, t(0, 1 / 7, 4 / 7, 6 / 7, 1)),
        (8, t(0, 51 / 255, 128 / 255, 230 / 255, 1)),
    ],
)
def test_activations_are_clipped_to_unit_interval_then_quantised(bits, expected):
    x = t(-0.5, 0.2, 0.5, 0.9, 1.7).requires_grad_()
    y = quantize_activation(x, bits)
    torch.testing.assert_close(y, expected)
    y.sum().backward()
    assert torch.equal(x.grad, t(0, 1, 1, 1, 0))  # the clip blocks the gradient outside [0, 1]


def test_activation_gradient_passes_at_the_clip_bounds():
    # tf.clip_by_value's gradient is zero only strictly outside [min, max].
    x = t(-1e-6, 0.0, 1.0, 1.000001).requires_grad_()
    quantize_activation(x, 2).sum().backward()
    assert torch.equal(x.grad, t(0, 1, 1, 0))


def _fg_grad(g: torch.Tensor, bits: int) -> torch.Tensor:
    x = torch.zeros_like(g, requires_grad=True)
    quantize_gradient(x, bits).backward(g)
    return x.grad


def test_fg_is_identity_forward():
    x = torch.randn(4, 3)
    assert torch.equal(quantize_gradient(x, 2), x)


def test_fg_keeps_per_example_extremes_exactly():
    g = t(3.0, -3.0, 0.0, 0.0).view(1, 4).repeat(2, 1)
    g[1] *= 0.01  # a different scale per example
    out = _fg_grad(g, 1)
    torch.testing.assert_close(out[:, :2], g[:, :2])
    # at 1 bit a zero becomes +m or -m of its own example
    assert torch.equal(out[:, 2:].abs(), g[:, :1].abs().expand(2, 2))


@pytest.mark.parametrize("bits", [1, 2, 6])
def test_fg_is_unbiased_bounded_and_on_the_grid(bits):
    torch.manual_seed(0)
    row = t(0.3, -1.0, 0.05, 0.7, 0.0, -0.45)
    g = row.repeat(20000, 1)
    out = _fg_grad(g, bits)
    n = 2**bits - 1
    assert out.abs().max() <= 1.0 + 1e-6  # bounded by max|g| of the example
    levels = (out / 2 + 0.5) * n
    torch.testing.assert_close(levels, levels.round(), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.mean(dim=0), row, atol=0.03, rtol=0)  # se < 0.01 at 1 bit


def test_fg_leaves_an_all_zero_gradient_zero():
    g = torch.zeros(2, 3)
    g[1, 0] = 1.0
    out = _fg_grad(g, 2)
    assert torch.equal(out[0], torch.zeros(3))
    assert not out.isnan().any()


@pytest.mark.parametrize("bad", [0, -1, 9, 16, 31, 33, 1.5, 2.0, "4", True])
def test_check_bits_rejects_widths_outside_1_to_8_and_32(bad):
    with pytest.raises(ValueError, match="1..8 or 32"):
        check_bits(bad)
