"""Scenes with answers known by hand, and independent (numpy) ray intersections to check renders."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from datagen.render.scene import Light, Material, Scene, SceneObject
from datagen.types import Camera

def quad(corners) -> trimesh.Trimesh:
    """Two triangles over four corners given in order around the quad."""
    return trimesh.Trimesh(np.asarray(corners, dtype=np.float64), [[0, 1, 2], [0, 2, 3]], process=False)


def z_plane(z_m: float, half_size_m: float = 100.0, centre=(0.0, 0.0)) -> trimesh.Trimesh:
    """A square in the plane z = z_m (world), normal +z."""
    cx, cy = centre
    h = half_size_m
    return quad([[cx - h, cy - h, z_m], [cx + h, cy - h, z_m], [cx + h, cy + h, z_m], [cx - h, cy + h, z_m]])


def posed_box(extents, yaw_rad: float, centre) -> tuple[trimesh.Trimesh, np.ndarray]:
    """A box of ``extents`` turned by ``yaw_rad`` about world z, centred at ``centre``; and its T_world_box."""
    T = trimesh.transformations.rotation_matrix(yaw_rad, [0, 0, 1])
    T[:3, 3] = centre
    return trimesh.creation.box(extents=extents, transform=T), T


def slab_range(origin: np.ndarray, directions: np.ndarray, T_world_box: np.ndarray, extents) -> tuple:
    """Independent ray/box intersection (slab method) in the box frame.

    Returns:
        near: (N,) distance to the box along each unit ray (inf where missed, or if inside).
        chord: (N,) far - near: how robustly each ray hits (> 0) or misses (< 0) the box.
    """
    R, t = T_world_box[:3, :3], T_world_box[:3, 3]
    o = R.T @ (np.asarray(origin, dtype=np.float64) - t)
    d = directions @ R
    half = np.asarray(extents, dtype=np.float64) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (-half - o) / d, (half - o) / d
    near = np.nanmax(np.minimum(t1, t2), axis=1)
    far = np.nanmin(np.maximum(t1, t2), axis=1)
    hit = (far >= near) & (near > 0)
    return np.where(hit, near, np.inf), far - near


def plane_range(origin: np.ndarray, directions: np.ndarray, z_m: float, half_size_m: float = np.inf) -> np.ndarray:
    """(N,) distance along unit rays to the square |x|, |y| <= half_size_m of the plane z = z_m.

    inf where the ray is parallel, points away or passes outside the square.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (z_m - origin[2]) / directions[:, 2]
        points = origin + t[:, None] * directions
        inside = (np.abs(points[:, 0]) <= half_size_m) & (np.abs(points[:, 1]) <= half_size_m)
    return np.where((t > 0) & inside, t, np.inf)


def sphere_range(origin: np.ndarray, directions: np.ndarray, centre, radius: float) -> np.ndarray:
    """(N,) distance along unit rays to a sphere (inf where missed)."""
    oc = np.asarray(origin, dtype=np.float64) - np.asarray(centre, dtype=np.float64)
    b = directions @ oc
    disc = b * b - (oc @ oc - radius * radius)
    with np.errstate(invalid="ignore"):
        t = -b - np.sqrt(disc)
    return np.where((disc >= 0) & (t > 0), t, np.inf)


def level_camera(width=320, height=240, fx=300.0, fy=280.0, cx=170.3, cy=110.8, position=(0.1, -1.0, 1.4),
                 pitch_rad: float = 0.0, **kwargs) -> Camera:
    """A camera looking along world +y, tilted down by ``pitch_rad``; off-centre principal point, fx != fy."""
    c, s = np.cos(pitch_rad), np.sin(pitch_rad)
    T = np.eye(4)
    T[:3, :3] = np.column_stack([[1.0, 0.0, 0.0], [0.0, -s, -c], [0.0, c, -s]])  # camera x, y, z in the world
    T[:3, 3] = position
    return Camera.from_intrinsics(fx, fy, cx, cy, width, height, T_world_cam=T, **kwargs)


#: Where the objects of ``street_scene`` are (world frame, z up).
BOX_EXTENTS = (1.0, 1.5, 2.0)
BOX_YAW = 0.4
BOX_CENTRE = (0.8, 4.0, 1.0)
SPHERE_CENTRE = (-1.2, 5.0, 0.7)
SPHERE_RADIUS = 0.7


def street_scene(sphere_subdivisions: int = 3) -> Scene:
    """A ground plane (z = 0), a turned box and an icosphere, each with a pattern."""
    box, _ = posed_box(BOX_EXTENTS, BOX_YAW, BOX_CENTRE)
    sphere = trimesh.creation.icosphere(subdivisions=sphere_subdivisions, radius=SPHERE_RADIUS)
    sphere.apply_translation(SPHERE_CENTRE)
    return Scene(objects=(
        SceneObject("ground", "plane", z_plane(0.0, 20.0), Material(pattern="checker")),
        SceneObject("box", "box", box, Material(color_rgb=(0.7, 0.3, 0.2), pattern="brick",
                                                  pattern_rgb=(0.9, 0.9, 0.9))),
        SceneObject("ball", "sphere", sphere, Material(pattern="noise", seed=3)),
    ), name="street")


@pytest.fixture
def plane_scene() -> Scene:
    """One flat grey plane at z = 5 m in front of an identity camera, lit straight along +z."""
    return Scene(objects=(SceneObject("wall", "plane", z_plane(5.0), Material(color_rgb=(0.8, 0.6, 0.4))),),
                 lights=(Light(direction_world=(0.0, 0.0, 1.0), intensity=0.5),), ambient=0.3)
