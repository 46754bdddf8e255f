"""Plain matplotlib pictures of inputs and weights: non-example grids (Figs 2, 3, 6, 7), first-layer
filters (Fig 8) and logistic-regression weights (Fig 4).

Each figure has a fixed size, so with ``advconf.results.save_picture`` its PNG is exactly
``figsize * PICTURE_DPI`` pixels; the ``*_figsize`` functions say what that size is.
"""

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

CELL = 1.5  # inches per non-example image (room for a two-line title)
FILTER_CELL = 0.8  # inches per filter
TITLE = 0.6  # inches above a filter grid for its title


def as_image(t: torch.Tensor) -> np.ndarray:
    """(C, H, W) values in [0, 1] -> what ``imshow`` takes: (H, W) for one channel, (H, W, 3) for RGB.

    Other channel counts are shown as their mean.
    """
    t = t.detach().float().cpu()
    if t.shape[0] == 3:
        return t.permute(1, 2, 0).numpy()
    return t.mean(dim=0).numpy()


def centred(w: torch.Tensor, scale: float) -> torch.Tensor:
    """Weights mapped to [0, 1] with zero at mid-grey, sharing one ``scale`` so small filters look grey."""
    return (0.5 + 0.5 * w / scale).clamp(0, 1) if scale > 0 else torch.full_like(w, 0.5)


def grid_shape(n: int, cols: int | None = None) -> tuple[int, int]:
    cols = cols or math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def non_example_figsize(rows: int, cols: int) -> tuple[float, float]:
    return cols * CELL, rows * (CELL + 0.3) + TITLE


def non_example_grid(images: torch.Tensor, titles: list[str], box: tuple[float, float], cols: int, suptitle: str) -> plt.Figure:
    """Images (N, C, H, W) in ``box`` in a grid of ``cols`` columns, each with its title."""
    rows = math.ceil(len(images) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=non_example_figsize(rows, cols), squeeze=False)
    low, high = box
    for ax, image, title in zip(axes.flat, images, titles):
        ax.imshow(as_image((image - low) / (high - low)), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - TITLE / height, hspace=0.4)  # room for both titles
    fig.suptitle(suptitle, fontsize=9)
    return fig


def filter_figsize(n: int) -> tuple[float, float]:
    rows, cols = grid_shape(n)
    return cols * FILTER_CELL, rows * FILTER_CELL + TITLE


def filter_grid(weight: torch.Tensor, near_zero: torch.Tensor, title: str) -> plt.Figure:
    """Conv filters (out, in, kh, kw) on one shared scale (zero = grey); near-zero ones framed in red."""
    rows, cols = grid_shape(len(weight))
    width, height = filter_figsize(len(weight))
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - TITLE / height, wspace=0.1, hspace=0.1)
    scale = weight.abs().max().item()
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
    for ax, w, dropped in zip(axes.flat, weight, near_zero):
        ax.imshow(as_image(centred(w, scale)), cmap="gray", vmin=0, vmax=1)
        ax.set_frame_on(True)
        for spine in ax.spines.values():
            spine.set_color("red" if dropped else "black")
    fig.suptitle(title, fontsize=9)
    return fig


WEIGHT_FIGSIZE = (4.0, 4.4)


def weight_image(weight: torch.Tensor, shape: tuple[int, ...], title: str) -> plt.Figure:
    """A linear unit's weights reshaped to its input image ``shape`` (C, H, W); zero is mid-grey."""
    w = weight.detach().float().cpu().reshape(shape)
    fig, ax = plt.subplots(figsize=WEIGHT_FIGSIZE)
    ax.imshow(as_image(centred(w, w.abs().max().item())), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return fig
