"""Markers: inside the image, off the target pixel, pointing at it, deterministic, and found again
by check_marker after a JPEG round trip."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from datagen.markers import (LABEL_NEARNESS_RATIO, MARKERS, MarkerError, check_marker, label_centre, marker_scale_px,
                             min_pair_separation_px, pair_clearance_px)

STYLES = ["arrow", "arrow_dot", "circle", "cross"]
ARROWS = ["arrow", "arrow_dot"]
H, W = 480, 640


def _style(name: str):
    return MARKERS.get(name)()


def _noise(rng: np.random.Generator, height: int = H, width: int = W) -> np.ndarray:
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def _smooth(height: int = H, width: int = W) -> np.ndarray:
    """A grey-blue gradient, like sky or a wall."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[..., 0] = np.linspace(40, 160, width)[None, :]
    image[..., 1] = np.linspace(60, 180, height)[:, None]
    image[..., 2] = 170
    return image


def _jpeg(image: np.ndarray, quality: int = 90) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _corners_and_edges(height: int = H, width: int = W) -> list[list[int]]:
    return [[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1], [width // 2, 0], [0, height // 2],
            [width - 1, height // 2], [width // 2, height - 1], [2, 3], [width - 3, height - 2]]


def test_the_four_styles_are_registered_with_descriptions():
    assert {"arrow", "arrow_dot", "circle", "cross"} <= set(MARKERS.names())
    assert _style("arrow").description == "red arrow"
    for name in STYLES:
        style = _style(name)
        assert style.name == name and style.description and style.description_two.endswith("labelled A and B")


def test_size_scales_with_the_image_and_is_clamped():
    assert marker_scale_px(480, 640) == pytest.approx(0.035 * 800)
    assert marker_scale_px(60, 80) == 12.0 and marker_scale_px(6000, 8000) == 80.0
    small, large = (_style("arrow").footprint((h, w), [[w // 2, h // 2]]).sum() for h, w in ((240, 320), (960, 1280)))
    assert large > 8 * small  # the area grows with the square of the length (4x longer here)


@pytest.mark.parametrize("name", STYLES)
def test_draw_returns_a_new_array_and_leaves_the_input_alone(name):
    image = _noise(np.random.default_rng(0))
    before = image.copy()
    out = _style(name).draw(image, [[320, 240], [100, 50]], labels=["A", "B"])
    assert out is not image and out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(image, before) and not np.array_equal(out, image)


@pytest.mark.parametrize("name", STYLES)
def test_drawing_is_deterministic(name):
    image = _noise(np.random.default_rng(0))
    first = _style(name).draw(image, [[320, 240], [330, 250]], labels=["A", "B"])
    again = _style(name).draw(image.copy(), np.array([[320, 240], [330, 250]]), labels=("A", "B"))
    assert first.tobytes() == again.tobytes()


@pytest.mark.parametrize("name", STYLES)
def test_markers_never_cover_a_target_pixel_nor_its_neighbours(name):
    rng = np.random.default_rng(0)
    image = _noise(rng)
    targets = _corners_and_edges() + rng.integers([0, 0], [W, H], size=(20, 2)).tolist()
    for pixel in targets:
        partner = (np.array(pixel) + rng.integers(-12, 13, size=2)).clip([0, 0], [W - 1, H - 1]).tolist()
        for pixels, labels in (([pixel], None), ([pixel, partner], ["A", "B"])):
            out = _style(name).draw(image, pixels, labels=labels)
            for u, v in pixels:
                block = (slice(max(v - 1, 0), v + 2), slice(max(u - 1, 0), u + 2))
                assert np.array_equal(out[block], image[block]), (pixels, u, v)


@pytest.mark.parametrize("name", ARROWS)
def test_arrows_stay_inside_the_image_at_corners_and_edges(name):
    """The arrow and its label turn to fit; only arrow_dot's dot, centred on the pixel, is clipped."""
    style = _style(name)
    for height, width in ((H, W), (120, 160), (375, 1242)):
        for pixel in _corners_and_edges(height, width):
            for labels in (None, ["A"]):
                for part in style.layout((height, width), [pixel], labels)[0]:
                    if part.colour == (0, 255, 255):
                        continue
                    assert part.rows.min() >= 0 and part.rows.max() < height, (pixel, labels)
                    assert part.cols.min() >= 0 and part.cols.max() < width, (pixel, labels)


def test_the_arrow_points_at_its_pixel():
    """Tip a few pixels off the target; the arrow's axis (principal direction) runs through it."""
    style = _style("arrow")
    for pixel in ([320, 240], [0, 0], [639, 479], [639, 200], [300, 0]):
        rows, cols = np.nonzero(style.footprint((H, W), [pixel]))
        offsets = np.column_stack([cols - pixel[0], rows - pixel[1]]).astype(float)
        assert 2.0 <= np.hypot(*offsets.T).min() <= 4.0
        centre = offsets.mean(axis=0)
        axis = np.linalg.svd(offsets - centre)[2][0]
        miss = abs(centre[0] * axis[1] - centre[1] * axis[0])  # distance of the target from the axis line
        assert miss < 1.0, (pixel, miss)


def test_the_arrow_comes_from_the_lower_right_when_it_fits():
    style = _style("arrow")
    rows, cols = np.nonzero(style.footprint((H, W), [[320, 240]]))
    assert cols.mean() > 320 and rows.mean() > 240
    rows, cols = np.nonzero(style.footprint((H, W), [[W - 1, H - 1]]))
    assert cols.mean() < W - 1 and rows.mean() < H - 1


def test_the_arrow_is_red_and_the_paper_figure_style_yellow_and_cyan():
    image = np.full((H, W, 3), 128, np.uint8)
    colours = {tuple(c) for c in _style("arrow").draw(image, [[320, 240]]).reshape(-1, 3)}
    assert colours == {(128, 128, 128), (255, 0, 0)}
    colours = {tuple(c) for c in _style("arrow_dot").draw(image, [[320, 240]]).reshape(-1, 3)}
    assert colours == {(128, 128, 128), (255, 255, 0), (0, 255, 255)}


@pytest.mark.parametrize("name", STYLES)
def test_two_points_are_labelled(name):
    image = np.full((H, W, 3), 128, np.uint8)
    style = _style(name)
    labelled = style.draw(image, [[200, 200], [400, 300]], labels=["A", "B"])
    plain = style.draw(image, [[200, 200], [400, 300]])
    white = np.all(labelled == 255, axis=2) & ~np.all(plain == 255, axis=2)
    black = np.all(labelled == 0, axis=2)
    assert white.sum() > 20 and black.sum() > 20
    rows, cols = np.nonzero(white)
    near_a = np.hypot(cols - 200, rows - 200) < 3 * marker_scale_px(H, W)
    assert near_a.any() and (~near_a).any()  # one label beside each point
    label_a, label_b = (style.draw(image, [[200, 200]], labels=[text]) for text in "AB")
    assert not np.array_equal(label_a, label_b)


def _random_pair(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Two pixels inside the sampler's margin (4% of the diagonal), 1-2 minimum separations apart."""
    margin = int(round(0.04 * math.hypot(width, height)))
    separation = min_pair_separation_px(height, width)
    a = rng.integers([margin, margin], [width - margin, height - margin])
    while True:
        r, t = rng.uniform(separation, 2 * separation), rng.uniform(0, 2 * math.pi)
        b = np.rint(a + r * np.array([math.cos(t), math.sin(t)])).astype(np.int64)
        if margin <= b[0] < width - margin and margin <= b[1] < height - margin and np.hypot(*(b - a)) >= separation:
            return np.array([a, b])


def test_two_point_labels_are_their_own_points_over_thousands_of_random_pairs():
    """Each letter clearly nearest its own point, no marker or label pixel near the other target, every
    label inside the image, for close pairs the sampler may draw (4% margin, minimum separation)."""
    rng = np.random.default_rng(0)
    sizes = [(240, 320), (480, 640), (200, 360), (300, 400)]
    checked = 0
    for name in STYLES:
        style = _style(name)
        for _ in range(500):
            height, width = sizes[rng.integers(len(sizes))]
            pixels = _random_pair(rng, height, width)
            layout = style.layout((height, width), pixels, ["A", "B"])
            clearance = pair_clearance_px(height, width)
            for k, parts in enumerate(layout):
                own, other = pixels[k], pixels[1 - k]
                centre = label_centre(parts)
                assert np.hypot(*(centre - own)) <= LABEL_NEARNESS_RATIO * np.hypot(*(centre - other)), (name, pixels)
                cols, rows = np.concatenate([p.cols for p in parts]), np.concatenate([p.rows for p in parts])
                assert np.hypot(cols - other[0], rows - other[1]).min() >= clearance, (name, pixels)
                assert cols.min() >= 0 and rows.min() >= 0 and cols.max() < width and rows.max() < height
                checked += 1
    assert checked == 4000


def test_pair_separation_and_clearance_scale_with_the_marker():
    for height, width in ((120, 160), (480, 640), (963, 1284), (1216, 1920)):
        scale = marker_scale_px(height, width)
        assert 1.3 * scale <= min_pair_separation_px(height, width) <= 2.1 * scale
        assert pair_clearance_px(height, width) == pytest.approx(0.5 * scale)
    assert min_pair_separation_px(960, 1280) > 1.8 * min_pair_separation_px(240, 320)


@pytest.mark.parametrize("name", STYLES)
def test_check_marker_finds_the_marker_after_jpeg_and_not_elsewhere(name):
    rng = np.random.default_rng(0)
    style = _style(name)
    for background in (_noise(rng), _smooth()):
        for pixel in rng.integers([0, 0], [W, H], size=(6, 2)).tolist() + [[0, 0], [W - 1, H // 2]]:
            drawn = _jpeg(style.draw(background, [pixel]))
            assert check_marker(drawn, pixel, style), pixel
            assert check_marker(drawn, np.array(pixel, dtype=float), name)  # by name, float pixel
            far = [(pixel[0] + W // 3) % W, (pixel[1] + H // 3) % H]
            assert not check_marker(drawn, far, style), (pixel, far)
            assert not check_marker(_jpeg(background), pixel, style)


@pytest.mark.parametrize("name", STYLES)
def test_check_marker_finds_both_labelled_points(name):
    rng = np.random.default_rng(0)
    pixels = [[150, 120], [170, 130]]
    drawn = _jpeg(_style(name).draw(_noise(rng), pixels, labels=["A", "B"]))
    assert all(check_marker(drawn, pixel, name) for pixel in pixels)
    assert not check_marker(drawn, [600, 440], name)


def test_check_marker_tells_styles_apart():
    image = _jpeg(_style("arrow").draw(_smooth(), [[320, 240]]))
    assert check_marker(image, [320, 240], "arrow")
    assert not check_marker(image, [320, 240], "circle") and not check_marker(image, [320, 240], "arrow_dot")


def test_check_marker_outside_the_image_is_false():
    assert not check_marker(_smooth(), [W, 10], "arrow")


@pytest.mark.parametrize(("image", "pixels", "labels", "message"), [
    (np.zeros((H, W, 3), np.float32), [[1, 1]], None, "uint8"),
    (np.zeros((H, W), np.uint8), [[1, 1]], None, r"\(H, W, 3\)"),
    (np.zeros((H, W, 3), np.uint8), [[W, 1]], None, "outside"),
    (np.zeros((H, W, 3), np.uint8), [[-1, 1]], None, "outside"),
    (np.zeros((H, W, 3), np.uint8), [[1.5, 1]], None, "integer"),
    (np.zeros((H, W, 3), np.uint8), [1, 2, 3], None, r"\(K, 2\)"),
    (np.zeros((H, W, 3), np.uint8), [[1, 1], [2, 2]], ["A"], "one label per pixel"),
    (np.zeros((H, W, 3), np.uint8), [[1, 1]], "A", "one label per pixel"),
])
def test_draw_refuses_bad_input(image, pixels, labels, message):
    with pytest.raises(MarkerError, match=message):
        _style("arrow").draw(image, pixels, labels=labels)
