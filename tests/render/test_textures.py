"""Procedural solid textures: values known by hand on simple layouts."""

from __future__ import annotations

import numpy as np

from datagen.render.scene import Material
from datagen.render.textures import albedo, albedo_of_objects, value_noise

WHITE, BLACK = (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)


def _weight(pattern: str, points, normal, scale_m: float = 1.0, seed: int = 0) -> np.ndarray:
    """Share of the second colour at each point (white base, black pattern colour)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    normals = np.tile(np.asarray(normal, dtype=np.float64), (len(points), 1))
    material = Material(color_rgb=WHITE, pattern=pattern, pattern_rgb=BLACK, scale_m=scale_m, seed=seed)
    return 1.0 - albedo(material, points, normals)[:, 0]


def test_flat_is_the_base_colour():
    np.testing.assert_array_equal(_weight("flat", [[0.3, 7.0, -2.0], [100.0, 0.0, 0.0]], (0, 0, 1)), [0, 0])


def test_checker_alternates_cubes_of_scale_side():
    points = [[0.5, 0.5, 0.5], [1.5, 0.5, 0.5], [1.5, 1.5, 0.5], [-0.5, 0.5, 0.5], [0.2, 0.2, 2.5]]
    np.testing.assert_array_equal(_weight("checker", points, (0, 0, 1), scale_m=1.0), [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(_weight("checker", np.array(points) * 0.25, (0, 0, 1), scale_m=0.25),
                                  [0, 1, 0, 1, 0])


def test_face_on_a_cell_boundary_shows_one_cell_not_noise():
    # A floor at z = 0 (normal up) is evaluated just below it: cells with floor(z) = -1 throughout.
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(0.01, 0.99, 500), rng.uniform(0.01, 0.99, 500), np.zeros(500)])
    points[:, 2] += rng.normal(0.0, 1e-12, 500)  # rounding noise of a hit point
    assert (_weight("checker", points, (0, 0, 1)) == 1).all()
    assert (_weight("checker", points, (0, 0, -1)) == 0).all()  # seen as the ceiling of the cell above


def test_stripes_run_vertically_on_walls_and_along_x_on_floors():
    # Wall facing -y: the horizontal tangent is +x; bands of width 1 alternate along x only.
    wall = [[0.5, 0.0, 0.2], [0.5, 0.0, 3.7], [1.5, 0.0, 0.2], [2.5, 0.0, 9.0]]
    np.testing.assert_array_equal(_weight("stripes", wall, (0, -1, 0)), [0, 0, 1, 0])
    floor = [[0.5, 0.3, 0.0], [0.5, 8.3, 0.0], [1.5, 0.3, 0.0]]
    np.testing.assert_array_equal(_weight("stripes", floor, (0, 0, 1)), [0, 0, 1])


def test_brick_has_mortar_lines_in_a_running_bond():
    # scale 1: bricks 1 m long, courses 0.5 m high, mortar 0.06 m; wall facing -y (along = x).
    points = [
        [0.5, 0.0, 0.25],   # middle of a brick
        [0.5, 0.0, 0.03],   # bed joint at the bottom of course 0
        [0.02, 0.0, 0.25],  # head joint of course 0 at x = 0
        [0.02, 0.0, 0.75],  # course 1 is shifted by half a brick: no joint at x = 0 ...
        [0.52, 0.0, 0.75],  # ... but at x = 0.5
        [0.5, 0.0, 0.53],   # bed joint at the bottom of course 1
    ]
    np.testing.assert_array_equal(_weight("brick", points, (0, -1, 0)), [0, 1, 1, 0, 1, 1])


def test_noise_is_smooth_seeded_and_spans_both_colours():
    rng = np.random.default_rng(0)
    points = rng.uniform(-10, 10, (2000, 3))
    values = value_noise(points, 0.5, 7)
    assert values.min() >= 0 and values.max() <= 1 and abs(values.mean() - 0.5) < 0.05
    np.testing.assert_array_equal(values, value_noise(points, 0.5, 7))
    assert np.abs(values - value_noise(points, 0.5, 8)).mean() > 0.05
    # Continuous: a 1 micrometre step moves the value by at most a few micro-units.
    step = value_noise(points + 1e-6, 0.5, 7) - values
    assert np.abs(step).max() < 1e-4
    weights = _weight("noise", points, (0, 0, 1), scale_m=0.5, seed=7)
    assert weights.min() == 0 and weights.max() == 1  # contrast-stretched


def test_albedo_of_objects_matches_each_material_alone():
    rng = np.random.default_rng(0)
    materials = (Material(pattern="checker", scale_m=0.3), Material(pattern="noise", seed=4),
                 Material(pattern="brick", color_rgb=(0.8, 0.2, 0.1)))
    index = rng.integers(0, 3, 300)
    points = rng.uniform(-3, 3, (300, 3))
    normals = np.tile([0.0, 1.0, 0.0], (300, 1))
    together = albedo_of_objects(materials, index, points, normals)
    for k, material in enumerate(materials):
        np.testing.assert_array_equal(together[index == k], albedo(material, points[index == k], normals[index == k]))
