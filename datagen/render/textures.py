"""Procedural solid textures: a material's albedo at 3D world points, no UVs needed.

Every pattern gives a weight ``w`` in [0, 1] per point and the albedo is
``(1 - w) * material.color_rgb + w * material.pattern_rgb``. With ``s = material.scale_m``:

* ``flat``: w = 0.
* ``checker``: cubes of side s, alternating in x, y and z.
* ``stripes``: bands of width s along the surface's horizontal tangent (vertical stripes on
  walls; bands along world x on floors and other horizontal surfaces).
* ``noise``: smooth seeded value noise (3 octaves, lattice cell s), deterministic per seed.
* ``brick``: running bond, bricks s long and s / 2 high in courses along world z, mortar
  lines (``pattern_rgb``) 6 % of s wide; on horizontal surfaces a paving of the same layout.

Points are pushed a hair into the surface along its mesh normal before evaluation, so a
face lying exactly on a cell boundary (a floor at z = 0) shows one cell, not noise.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from datagen.render.scene import PATTERNS, Material

_INSET = 1e-6  # of scale_m: how far points move into the surface before evaluation
_MORTAR = 0.06  # of scale_m
_NOISE_OCTAVES = 3
_CHECKER, _STRIPES, _NOISE, _BRICK = (PATTERNS.index(name) for name in ("checker", "stripes", "noise", "brick"))


@njit(cache=True, inline="always")
def _horizontal(x: float, y: float, z: float, nx: float, ny: float, nz: float) -> tuple[float, float]:
    """(position along the unit horizontal tangent (-n_y, n_x, 0), height) of a surface point.

    Horizontal faces (|n_z| > 0.7: floors, roofs) use x along and y as height.
    """
    norm = np.hypot(nx, ny)
    if abs(nz) > 0.7 or norm == 0.0:
        return x, y
    return (-ny * x + nx * y) / norm, z


@njit(cache=True, inline="always")
def _brick(along: float, height: float, scale: float) -> float:
    course = scale / 2.0
    row = np.floor(height / course)
    position = along / scale + 0.5 * (int(row) & 1)
    mortar = _MORTAR * scale
    joint = (height - row * course) < mortar or (position - np.floor(position)) * scale < mortar
    return 1.0 if joint else 0.0


@njit(cache=True, inline="always")
def _lattice_value(ix: int, iy: int, iz: int, seed: int) -> float:
    """Hash of an integer lattice point and a seed to [0, 1) (splitmix64 finaliser)."""
    x = np.uint64(ix * 73856093) ^ np.uint64(iy * 19349663) ^ np.uint64(iz * 83492791)
    x ^= np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return float(x >> np.uint64(11)) / 9007199254740992.0


@njit(cache=True)
def _value_noise_at(x: float, y: float, z: float, scale: float, seed: int, octaves: int) -> float:
    """Smooth value noise in [0, 1]: trilinear interpolation with smoothstep fade, summed octaves."""
    total, weight, amplitude, frequency = 0.0, 0.0, 1.0, 1.0 / scale
    for octave in range(octaves):
        qx, qy, qz = x * frequency, y * frequency, z * frequency
        cx, cy, cz = np.floor(qx), np.floor(qy), np.floor(qz)
        fx, fy, fz = qx - cx, qy - cy, qz - cz
        fx, fy, fz = fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy), fz * fz * (3.0 - 2.0 * fz)
        ix, iy, iz = int(cx), int(cy), int(cz)
        value = 0.0
        for corner in range(8):
            dx, dy, dz = corner & 1, (corner >> 1) & 1, (corner >> 2) & 1
            w = (fx if dx else 1.0 - fx) * (fy if dy else 1.0 - fy) * (fz if dz else 1.0 - fz)
            value += w * _lattice_value(ix + dx, iy + dy, iz + dz, seed * 16 + octave)
        total += amplitude * value
        weight += amplitude
        amplitude *= 0.5
        frequency *= 2.0
    return total / weight


@njit(cache=True, inline="always")
def _pattern_weight(kind: int, x: float, y: float, z: float, nx: float, ny: float, nz: float,
                    scale: float, seed: int) -> float:
    """Weight of the second colour at one point; ``kind`` indexes ``PATTERNS``."""
    if kind == _CHECKER:
        return float(int(np.floor(x / scale) + np.floor(y / scale) + np.floor(z / scale)) & 1)
    if kind == _STRIPES:
        along, _ = _horizontal(x, y, z, nx, ny, nz)
        return float(int(np.floor(along / scale)) & 1)
    if kind == _BRICK:
        along, height = _horizontal(x, y, z, nx, ny, nz)
        return _brick(along, height, scale)
    if kind == _NOISE:
        # Value noise concentrates near 0.5: stretch its contrast so both colours show.
        value = (_value_noise_at(x, y, z, scale, seed, _NOISE_OCTAVES) - 0.5) * 2.5 + 0.5
        return min(max(value, 0.0), 1.0)
    return 0.0


@njit(cache=True)
def _albedo_kernel(object_index: np.ndarray, points: np.ndarray, normals: np.ndarray, kind: np.ndarray,
                   base: np.ndarray, second: np.ndarray, scale: np.ndarray, seed: np.ndarray) -> np.ndarray:
    out = np.empty((len(points), 3))
    for i in range(len(points)):
        o = object_index[i]
        s = scale[o]
        nx, ny, nz = normals[i, 0], normals[i, 1], normals[i, 2]
        inset = _INSET * s
        w = _pattern_weight(kind[o], points[i, 0] - nx * inset, points[i, 1] - ny * inset,
                            points[i, 2] - nz * inset, nx, ny, nz, s, seed[o])
        for c in range(3):
            out[i, c] = base[o, c] + w * (second[o, c] - base[o, c])
    return out


def value_noise(points: np.ndarray, scale_m: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Smooth 3-octave value noise.

    Args:
        points: (N, 3) float64 points, metres, world frame.
        scale_m: (N,) float64 lattice cell size of the first octave, metres.
        seed: (N,) int64 seed; the same seed and point always give the same value.

    Returns:
        (N,) float64 in [0, 1], continuous in the points.
    """
    points = np.ascontiguousarray(points, dtype=np.float64)
    scale_m = np.broadcast_to(np.asarray(scale_m, dtype=np.float64), len(points))
    seed = np.broadcast_to(np.asarray(seed, dtype=np.int64), len(points))
    return _value_noise_kernel(points, np.ascontiguousarray(scale_m), np.ascontiguousarray(seed))


@njit(cache=True)
def _value_noise_kernel(points: np.ndarray, scale: np.ndarray, seed: np.ndarray) -> np.ndarray:
    out = np.empty(len(points))
    for i in range(len(points)):
        out[i] = _value_noise_at(points[i, 0], points[i, 1], points[i, 2], scale[i], seed[i], _NOISE_OCTAVES)
    return out


def albedo_of_objects(materials: tuple, object_index: np.ndarray, points_world: np.ndarray,
                      normals_world: np.ndarray) -> np.ndarray:
    """Albedo of points lying on several objects, each pattern evaluated once for all its points.

    Args:
        materials: one Material per object.
        object_index: (N,) int index into ``materials`` of each point (all >= 0).
        points_world: (N, 3) float64 surface points, metres, world frame.
        normals_world: (N, 3) float64 unit mesh normals of the faces the points lie on, world frame.

    Returns:
        (N, 3) float64 albedo in [0, 1].
    """
    table = _material_table(materials)
    return _albedo_kernel(np.ascontiguousarray(object_index, dtype=np.int64),
                          np.ascontiguousarray(points_world, dtype=np.float64),
                          np.ascontiguousarray(normals_world, dtype=np.float64), *table)


def _material_table(materials: tuple) -> tuple:
    """Per-object (kind, base colour, second colour, scale, seed) arrays for the kernel."""
    return (np.array([PATTERNS.index(m.pattern) for m in materials], dtype=np.int64),
            np.array([m.color_rgb for m in materials], dtype=np.float64).reshape(-1, 3),
            np.array([m.pattern_rgb for m in materials], dtype=np.float64).reshape(-1, 3),
            np.array([m.scale_m for m in materials], dtype=np.float64),
            np.array([m.seed for m in materials], dtype=np.int64))


def albedo(material: Material, points_world: np.ndarray, normals_world: np.ndarray) -> np.ndarray:
    """Albedo of one material at (N, 3) world points with (N, 3) unit mesh normals -> (N, 3) float64."""
    index = np.zeros(len(points_world), dtype=np.int64)
    return albedo_of_objects((material,), index, np.asarray(points_world, dtype=np.float64),
                             np.asarray(normals_world, dtype=np.float64))
