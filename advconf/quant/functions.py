"""DoReFa-Net quantisers (Zhou et al. 2016), operation for operation as tensorpack's
`examples/DoReFa-Net/dorefa.py` (`quantize`, `fw`, `fa`, `fg`).

A bit width of 32 returns the input tensor itself, so a 32-bit model is bit-for-bit the unquantised one.
"""

import torch
from torch.autograd import Function

FULL_PRECISION = 32


def check_bits(bits: int) -> None:
    """DoReFa bit widths are 1..8, or 32 for full precision."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not (1 <= bits <= 8 or bits == FULL_PRECISION):
        raise ValueError(f"bit width must be an integer in 1..8 or 32, got {bits!r}")


class _QuantizeK(Function):
    """round(x·n)/n with the straight-through gradient (tensorpack's `quantize`)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, n: float) -> torch.Tensor:
        return torch.round(x * n) / n

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


def quantize_k(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Quantise x (expected in [0, 1]) to 2^bits levels; gradient passes straight through."""
    if bits == FULL_PRECISION:
        return x
    return _QuantizeK.apply(x, float(2**bits - 1))


class _ScaledSign(Function):
    """sign(W)·E with sign(0) = 0, as TensorFlow's `tf.sign` in tensorpack's BWN branch; straight-through
    gradient."""

    @staticmethod
    def forward(ctx, w: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return torch.sign(w).mul_(scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


class _TanhWeight(Function):
    """2·quantize_k(tanh(W)/max|tanh(W)|·0.5 + 0.5) − 1, with the gradient autograd would give if only
    the rounding were straight-through, written out: autograd's amax/div backward is ~5x slower and
    weight quantisation is a per-step cost that does not shrink with the batch. For a small layer
    the cost is the number of tensor operations, not their size, so both passes use as few as they can."""

    @staticmethod
    def forward(ctx, w: torch.Tensor, n: float) -> torch.Tensor:
        t = torch.tanh(w)
        low, high = torch.aminmax(t)  # one pass, no |t| temporary (an inf-norm is 10x slower on 1M weights here)
        m = torch.maximum(high, low.neg())  # max|t|
        x = t / m
        ctx.save_for_backward(t, m, x)
        # tensorpack's ((x·0.5 + 0.5)·n).round() / n · 2 − 1 with its scalings by two folded in:
        # scaling by a power of two commutes with float rounding, so (x + 1)·(n/2) and r / (n/2) are
        # bit for bit tensorpack's (ties round alike; tested on every tie), in two fewer operations.
        return x.add(1).mul_(n / 2).round_().div_(n / 2).sub_(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        t, m, x = ctx.saved_tensors
        grad_w = torch.ops.aten.tanh_backward(grad, t).div_(m)  # g · tanh'(W) / m
        # Through m = max|t|: −Σ g·t / m², shared evenly by the elements where |t| = m (as TensorFlow's
        # reduce_max shares it), times d|t|/dW = sign(t)·(1 − m²) there. x = t/m is exactly ±1 at
        # those elements and strictly inside (−1, 1) elsewhere, so its truncation marks them with
        # their sign. Found here rather than in forward, so evaluation and attacks skip it.
        at_max = x.trunc()
        m2 = m * m
        shared = torch.dot(grad.reshape(-1), t.reshape(-1)).mul_(m2 - 1).div_(m2 * torch.count_nonzero(at_max))  # Σ g·t: no temporary
        return grad_w.addcmul_(at_max, shared), None


def quantize_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """DoReFa `fw`: 1 bit → sign(W)·mean|W| with sign(0) = 0 (no gradient through the mean); k > 1 bits →
    2·quantize_k(tanh(W)/max|tanh(W)|·0.5 + 0.5) − 1, in [−1, 1].

    The k > 1 result is *not* rescaled by max|tanh(W)| (a known deviation of a popular PyTorch port).
    """
    if bits == FULL_PRECISION:
        return w
    if bits == 1:
        return _ScaledSign.apply(w, w.abs().mean().detach())
    return _TanhWeight.apply(w, float(2**bits - 1))


class _ClipQuantize(Function):
    """round(clip(x, 0, 1)·n)/n; gradient: the clip's (1 inside [0, 1], bounds included), the rounding
    straight through. One function, in place: activations are the largest tensors quantised per step."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, n: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(0.0, 1.0).mul_(n).round_().div_(n)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad * ((x >= 0) & (x <= 1)), None


def quantize_activation(x: torch.Tensor, bits: int) -> torch.Tensor:
    """DoReFa `fa(nonlin(x))`: clip to [0, 1], then k bits. 32 bits: identity (the layer keeps its own
    activation function)."""
    if bits == FULL_PRECISION:
        return x
    return _ClipQuantize.apply(x, float(2**bits - 1))


class _QuantizeGradient(Function):
    """Identity forward; the backward quantises the incoming gradient (tensorpack's `fg`)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, bits: int) -> torch.Tensor:
        ctx.bits = bits
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        n = float(2**ctx.bits - 1)
        dims = tuple(range(1, grad.ndim))
        m = grad.abs().amax(dim=dims, keepdim=True) if dims else grad.abs()
        x = grad / m * 0.5 + 0.5 + torch.empty_like(grad).uniform_(-0.5 / n, 0.5 / n)
        x = torch.round(torch.clamp(x, 0.0, 1.0) * n) / n - 0.5
        # An example whose gradient is all zero keeps it (tensorpack would divide 0 by 0 here).
        return torch.where(m > 0, x * m * 2, torch.zeros_like(grad)), None


def quantize_gradient(x: torch.Tensor, bits: int) -> torch.Tensor:
    """DoReFa `fg`: identity forward. Backward: m = max|g| per example, g/m·0.5 + 0.5 plus uniform noise
    of one quantisation step, clipped to [0, 1], k bits, mapped back to [−m, m]. Unbiased (it is
    stochastic rounding) and bounded by m."""
    if bits == FULL_PRECISION:
        return x
    return _QuantizeGradient.apply(x, bits)
