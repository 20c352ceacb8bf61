"""Built scenes: cameras never inside objects, paths that move by the expected step, seeds that hold."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from datagen.errors import ConfigError
from datagen.render.raycast import cast_rays
from datagen.resources import scenes_dir
from datagen.synthetic.builders import build_scene
from datagen.synthetic.recipe import load_recipe, parse_recipe

from .conftest import FAMILIES, bundled_recipe


@pytest.fixture(scope="module")
def built():
    """Every scene of every bundled recipe (building is cheap: no rendering)."""
    out = {}
    for family in FAMILIES:
        recipe = load_recipe(scenes_dir() / f"{family}.yaml")
        out[family] = [build_scene(recipe, i) for i in range(recipe.sequences)]
    return out


def _sphere_directions(n: int = 2000) -> np.ndarray:
    """(n, 3) unit vectors spread over the sphere (Fibonacci lattice)."""
    k = np.arange(n) + 0.5
    z = 1 - 2 * k / n
    phi = math.pi * (1 + 5 ** 0.5) * k
    r = np.sqrt(1 - z * z)
    return np.column_stack([r * np.cos(phi), r * np.sin(phi), z])


@pytest.mark.parametrize("family", FAMILIES)
def test_cameras_and_lidar_are_outside_every_object(built, family):
    # Independent of the builder's bounding-box check: cast rays in all directions from each
    # sensor. Inside a closed object a ray first meets a face from behind (normal along the ray).
    directions = _sphere_directions()
    for scene in built[family]:
        sensors = np.concatenate([scene.path.centres, (scene.path.poses @ scene.T_cam_lidar)[:, :3, 3]])
        for centre in sensors:
            hits = cast_rays(scene.scene, centre, directions)
            normals = hits.face_normals[hits.face[hits.hit]]
            facing = np.einsum("ij,ij->i", normals, directions[hits.hit])
            assert (facing < 0).all(), f"{scene.scene.name}: sensor at {centre} sees a back face"
            assert hits.t_m[hits.hit].min() > 0.15, f"{scene.scene.name}: a surface within 15 cm of {centre}"
            if family != "street":  # rooms are closed: every direction hits a wall, floor or ceiling
                assert hits.hit.all()


def test_room_cameras_stay_inside_the_room(built):
    for scene in built["room"]:
        walls = {o.name: o.mesh.bounds for o in scene.scene.objects if o.kind == "wall"}
        x_max, x_min = walls["wall_x+"][0, 0], walls["wall_x-"][1, 0]
        y_max, y_min = walls["wall_y+"][0, 1], walls["wall_y-"][1, 1]
        c = scene.path.centres
        assert (c[:, 0] > x_min + 0.5).all() and (c[:, 0] < x_max - 0.5).all()
        assert (c[:, 1] > y_min + 0.5).all() and (c[:, 1] < y_max - 0.5).all()


def test_street_camera_drives_over_the_road(built):
    for scene in built["street"]:
        road = next(o for o in scene.scene.objects if o.name == "road").mesh.bounds
        c = scene.path.centres
        assert (np.abs(c[:, 1]) < road[1, 1]).all()
        assert (c[:, 2] - road[1, 2] >= 1.5 - 1e-9).all() and (c[:, 2] <= 1.8 + 1e-9).all()


def test_tabletop_camera_looks_at_the_table(built):
    for scene in built["tabletop"]:
        hits = cast_rays(scene.scene, scene.path.centres, scene.path.poses[:, :3, 2])
        # The optical axis meets the table top or something standing on it.
        on_table = [scene.scene.objects[i].name == "table" or scene.scene.objects[i].kind not in
                    ("floor", "wall", "ceiling") for i in hits.object_index]
        assert hits.hit.all() and all(on_table)


def test_walk_and_drive_move_by_the_step_along_x(built):
    for family, low, high in (("room", 0.8 * 0.5, 1.3 * 0.5), ("street", 6 * 0.2, 14 * 0.2)):
        for scene in built[family]:
            steps = np.diff(scene.path.centres, axis=0)
            np.testing.assert_allclose(np.linalg.norm(steps, axis=1), scene.path.step_m, atol=1e-9)
            assert low - 1e-9 <= scene.path.step_m <= high + 1e-9
            np.testing.assert_allclose(steps[:, 1:], 0.0, atol=1e-9)  # straight along world x
            if family == "street":
                assert (steps[:, 0] > 0).all()  # toward +x
            np.testing.assert_allclose(np.diff(scene.path.timestamps_s), 0.5 if family == "room" else 0.2)


def test_orbit_moves_by_its_chord_around_the_table(built):
    for scene in built["tabletop"]:
        c = scene.path.centres
        radius = np.linalg.norm(c[:, :2], axis=1)
        np.testing.assert_allclose(radius, radius[0], atol=1e-9)
        angles = np.unwrap(np.arctan2(c[:, 1], c[:, 0]))
        step = np.abs(np.diff(angles))
        np.testing.assert_allclose(step, step[0], atol=1e-9)
        assert math.radians(8) - 1e-9 <= step[0] <= math.radians(15) + 1e-9
        np.testing.assert_allclose(np.linalg.norm(np.diff(c, axis=0), axis=1), 2 * radius[0] * math.sin(step[0] / 2))


def test_camera_pitch_follows_the_recipe(built):
    for family, (low, high) in (("room", (-15, -3)), ("street", (-4, 1))):
        for scene in built[family]:
            pitch = np.degrees(np.arcsin(scene.path.poses[:, 2, 2]))  # forward axis' world z
            assert (pitch >= low - 1e-6).all() and (pitch <= high + 1e-6).all()


def test_same_seed_same_scene_other_seed_other_scene():
    recipe = load_recipe(scenes_dir() / "room.yaml")
    a, b = build_scene(recipe, 1), build_scene(recipe, 1)
    va, fa, _ = a.scene.merged()
    vb, fb, _ = b.scene.merged()
    assert np.array_equal(va, vb) and np.array_equal(fa, fb)
    assert len(a.scene.objects) == len(b.scene.objects) > 10
    for x, y in zip(a.scene.objects, b.scene.objects):
        assert x.name == y.name and dataclasses.asdict(x.material) == dataclasses.asdict(y.material)
    np.testing.assert_array_equal(a.path.poses, b.path.poses)
    assert [c.K.tobytes() for c in a.cameras] == [c.K.tobytes() for c in b.cameras]
    other = build_scene(recipe, 1, extra_seed=5)
    assert not np.array_equal(other.path.poses, a.path.poses)
    assert not np.array_equal(build_scene(recipe, 2).path.poses, a.path.poses)


def test_intrinsics_redraw_per_frame_or_per_sequence():
    data = bundled_recipe("tabletop")
    per_frame = build_scene(parse_recipe(data, "t"), 0)
    assert len({c.K.tobytes() for c in per_frame.cameras}) == len(per_frame.cameras)
    data["camera"]["redraw"] = "sequence"
    per_sequence = build_scene(parse_recipe(data, "t"), 0)
    assert len({(c.K.tobytes(), c.dist.tobytes()) for c in per_sequence.cameras}) == 1


def test_a_sensor_inside_an_object_is_refused():
    # A small table, the camera orbiting 1 mm above its top, and the LiDAR mounted 0.6 m ahead of
    # the camera: the LiDAR lands over the table top, inside the clearance of its bounding box.
    data = bundled_recipe("tabletop")
    data["layout"].update(table_length_m=0.3, table_width_m=0.3)
    data["path"].update(height_m=0.001, radius_m=0.3, clearance_m=0.3)
    data["lidar"]["position_cam_m"] = [0.0, 0.0, 0.6]
    with pytest.raises(ConfigError, match=r"low.yaml: path: the LiDAR of frame 0 of scene 0 is inside object 'table'"):
        build_scene(parse_recipe(data, "low", file="low.yaml"), 0)
