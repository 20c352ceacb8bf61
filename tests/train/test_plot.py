"""The loss plot: a PNG drawn with Pillow."""

from __future__ import annotations

import pytest
from PIL import Image

from datagen.train.plot import SIZE_PX, _ticks, plot_loss, running_mean


def test_running_mean_by_hand():
    assert running_mean([4.0, 2.0, 6.0, 0.0], 2) == [4.0, 3.0, 4.0, 3.0]
    assert running_mean([1.0, 2.0, 3.0], 5) == [1.0, 1.5, 2.0]


def test_ticks_are_round_and_cover_the_range():
    assert _ticks(7.6, 12.4) == [8.0, 9.0, 10.0, 11.0, 12.0]
    assert _ticks(1, 24) == [5.0, 10.0, 15.0, 20.0]


def test_plot_is_a_png_with_the_curve_drawn(tmp_path):
    path = plot_loss(list(range(1, 31)), [12.0 - 0.15 * k for k in range(30)], tmp_path / "loss.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == SIZE_PX
        colours = {colour for _, colour in image.convert("RGB").getcolors(maxcolors=1 << 16)}
    assert (214, 39, 40) in colours and (31, 119, 180) in colours  # running mean and per-step line
    with pytest.raises(ValueError, match="as many steps as losses"):
        plot_loss([1, 2], [1.0], tmp_path / "bad.png")
