"""Every picture advconf draws: evaluation curves, the report's curves of many runs and its labelled
scatter plots, non-example grids (Figs 2, 3, 6, 7), first-layer filters (Fig 8), logistic-regression
weights (Fig 4) and the spheres decision boundary (Fig 5).

Figures are ``matplotlib.figure.Figure`` objects built without pyplot, so drawing needs no GUI
backend and importing advconf changes no global matplotlib state. ``advconf.results.save_figure``
writes them. Picture grids have a fixed size: saved uncropped (``crop=False``) their PNG is exactly
``figsize * PICTURE_DPI`` pixels; the ``*_figsize`` functions say what that size is.
"""

import math
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

PICTURE_DPI = 100
CELL = 1.5  # inches per non-example image (room for a two-line title)
FILTER_CELL = 0.8  # inches per filter
TITLE = 0.6  # inches above a grid for its title
WEIGHT_FIGSIZE = (4.0, 4.4)


def curves_figure(
    x: Sequence[float], curves: dict[str, Sequence[float]], xlabel: str, ylabel: str, title: str
) -> Figure:
    """One line per entry of ``curves`` over the shared ``x`` axis, y in [0, 1]."""
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    for label, y in curves.items():
        ax.plot(x, y, marker="o", label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def runs_curves_figure(lines: dict[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str, title: str) -> Figure:
    """One line per entry ``label: (xs, ys)``, each with its own x values (runs of a report)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for i, (label, (xs, ys)) in enumerate(lines.items()):
        # The colour cycle has 10 colours: later lines get a new dash pattern so no two look alike.
        style = ("-", "--", ":", "-.")[i // 10 % 4]
        ax.plot(xs, ys, marker="o", linestyle=style, label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))  # outside: curves stay visible
    return fig


def labelled_scatter(
    xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], xlabel: str, ylabel: str, title: str
) -> Figure:
    """Points, each annotated with its label (one run of a report per point)."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    ax.scatter(xs, ys, zorder=2)
    for x, y, label in zip(xs, ys, labels):
        ax.annotate(label, (x, y), xytext=(4, 3), textcoords="offset points", fontsize="x-small")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    return fig


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


def non_example_grid(images: torch.Tensor, titles: list[str], box: tuple[float, float], cols: int, suptitle: str) -> Figure:
    """Images (N, C, H, W) in ``box`` in a grid of ``cols`` columns, each with its title."""
    rows = math.ceil(len(images) / cols)
    fig = Figure(figsize=non_example_figsize(rows, cols))
    axes = fig.subplots(rows, cols, squeeze=False)
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


def filter_grid(weight: torch.Tensor, near_zero: torch.Tensor, title: str) -> Figure:
    """Conv filters (out, in, kh, kw) on one shared scale (zero = grey); near-zero ones framed in red."""
    rows, cols = grid_shape(len(weight))
    width, height = filter_figsize(len(weight))
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(rows, cols, squeeze=False)
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


def weight_image(weight: torch.Tensor, shape: tuple[int, ...], title: str) -> Figure:
    """A linear unit's weights reshaped to its input image ``shape`` (C, H, W); zero is mid-grey."""
    w = weight.detach().float().cpu().reshape(shape)
    fig = Figure(figsize=WEIGHT_FIGSIZE)
    ax = fig.subplots()
    ax.imshow(as_image(centred(w, w.abs().max().item())), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return fig


def decision_boundary_figure(
    grid: torch.Tensor,
    p_outer: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    radii: Sequence[float],
    title: str,
) -> Figure:
    """p(outer) over the square ``grid`` × ``grid`` (filled contours, the 0.5 level in black), the
    training points by class, and the true circles dotted."""
    gx, gy = torch.meshgrid(grid, grid, indexing="xy")
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.contourf(gx, gy, p_outer, levels=20, cmap="RdBu_r", vmin=0, vmax=1, alpha=0.6)
    ax.contour(gx, gy, p_outer, levels=[0.5], colors="k", linewidths=2)
    for label, colour in ((0, "tab:blue"), (1, "tab:red")):
        ax.scatter(x[y == label, 0], x[y == label, 1], s=3, c=colour, label=f"train, class {label}")
    circle = torch.linspace(0, 2 * math.pi, 200)
    for r in radii:
        ax.plot(r * torch.cos(circle), r * torch.sin(circle), "k:", linewidth=0.8)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7)
    return fig
