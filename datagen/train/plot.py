"""The loss curve of a training run as a PNG, drawn with Pillow (no plotting library needed)."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

from datagen import ownership

SIZE_PX = (900, 500)
MARGIN_PX = (70, 30, 20, 50)  # left, top, right, bottom
LOSS_COLOUR = (31, 119, 180)
MEAN_COLOUR = (214, 39, 40)
GRID_COLOUR = (225, 225, 225)
TICKS = 5


def running_mean(values: Sequence[float], window: int) -> list[float]:
    """Mean of each value and the ``window - 1`` before it (fewer at the start)."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def _ticks(low: float, high: float) -> list[float]:
    """About ``TICKS`` round values covering [low, high]."""
    span = high - low or abs(high) or 1.0
    step = 10 ** math.floor(math.log10(span / TICKS))
    step *= next(m for m in (1, 2, 5, 10) if span / (step * m) <= TICKS)
    first = math.ceil(low / step) * step
    return [first + k * step for k in range(int((high - first) / step + 1e-9) + 1)]


def plot_loss(steps: Sequence[int], losses: Sequence[float], path: str | Path, title: str = "training loss") -> Path:
    """Draw loss against step (thin line) and its running mean over a tenth of the run (thick line).

    Args:
        steps, losses: one point per optimiser step, in order.
        path: the PNG file to write; an existing one is replaced only if datagen wrote it
            (:mod:`datagen.ownership`).
    """
    if not steps or len(steps) != len(losses):
        raise ValueError(f"plot_loss needs as many steps as losses, at least one; got {len(steps)} and {len(losses)}")
    image = Image.new("RGB", SIZE_PX, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    left, top, right, bottom = MARGIN_PX[0], MARGIN_PX[1], SIZE_PX[0] - MARGIN_PX[2], SIZE_PX[1] - MARGIN_PX[3]
    x_low, x_high = min(steps), max(max(steps), min(steps) + 1)
    y_low, y_high = min(losses), max(losses)
    pad = (y_high - y_low) * 0.05 or 0.5
    y_low, y_high = y_low - pad, y_high + pad

    def xy(step: float, loss: float) -> tuple[float, float]:
        return (left + (step - x_low) / (x_high - x_low) * (right - left),
                bottom - (loss - y_low) / (y_high - y_low) * (bottom - top))

    for value in _ticks(y_low, y_high):
        y = xy(x_low, value)[1]
        draw.line([(left, y), (right, y)], fill=GRID_COLOUR)
        draw.text((left - 8, y), f"{value:g}", fill="black", font=font, anchor="rm")
    for value in _ticks(x_low, x_high):
        x = xy(value, y_low)[0]
        draw.line([(x, top), (x, bottom)], fill=GRID_COLOUR)
        draw.text((x, bottom + 6), f"{value:g}", fill="black", font=font, anchor="mt")
    draw.rectangle([left, top, right, bottom], outline="black")
    points = [xy(s, v) for s, v in zip(steps, losses)]
    mean = [xy(s, v) for s, v in zip(steps, running_mean(losses, max(1, len(losses) // 10)))]
    for line, colour, width in ((points, LOSS_COLOUR, 1), (mean, MEAN_COLOUR, 3)):
        if len(line) > 1:
            draw.line(line, fill=colour, width=width)
        else:
            draw.ellipse([line[0][0] - 3, line[0][1] - 3, line[0][0] + 3, line[0][1] + 3], fill=colour)
    draw.text(((left + right) / 2, 8), f"{title} (thin: per step; thick: running mean)", fill="black", font=font,
              anchor="mt")
    draw.text(((left + right) / 2, SIZE_PX[1] - 8), "optimiser step", fill="black", font=font, anchor="mb")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path = Path(path)
    ownership.write_file(path, buffer.getvalue())  # replaces only a plot of datagen's
    return path
