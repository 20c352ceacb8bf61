"""Simulated spinning LiDAR: exact ray casting of a scene, with range noise and dropout.

The sensor frame is a Velodyne/KITTI one: x forward, y left, z up. Beams are evenly spaced
in elevation over ``vertical_fov_deg`` (first beam at the lower limit, last at the upper);
``azimuth_steps`` columns are evenly spaced over 360 degrees, the first along +x, turning
toward +y (counter-clockwise seen from above). Points are returned column by column, beams
in order within a column, as a real sweep reads out.
"""

from __future__ import annotations

import functools

import logging
from dataclasses import dataclass

import numpy as np

from datagen.geometry.se3 import as_transform
from datagen.render.raycast import cast_rays
from datagen.render.scene import Scene

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LidarConfig:
    """A spinning LiDAR (defaults: a Velodyne HDL-64E as in KITTI).

    Attributes:
        beams: number of lasers, evenly spaced in elevation.
        vertical_fov_deg: (lowest, highest) beam elevation, degrees above the horizontal plane.
        azimuth_steps: columns per revolution (horizontal resolution 360 / azimuth_steps degrees).
        max_range_m: hits farther than this (true range) are not returned, metres.
        min_range_m: hits nearer than this (true range) are not returned, metres.
        range_noise_m: standard deviation of the Gaussian noise added along each ray, metres.
        dropout: share of the kept returns dropped at random, in [0, 1).
    """

    beams: int = 64
    vertical_fov_deg: tuple = (-24.9, 2.0)
    azimuth_steps: int = 2048
    max_range_m: float = 120.0
    min_range_m: float = 0.5
    range_noise_m: float = 0.01
    dropout: float = 0.05

    def __post_init__(self) -> None:
        for name in ("beams", "azimuth_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"LidarConfig.{name} must be a positive integer, got {value!r}")
        fov = tuple(float(a) for a in self.vertical_fov_deg)
        if len(fov) != 2 or not -90.0 <= fov[0] <= fov[1] <= 90.0:
            raise ValueError(f"LidarConfig.vertical_fov_deg must be (low, high) with -90 <= low <= high <= 90, "
                             f"got {self.vertical_fov_deg!r}")
        object.__setattr__(self, "vertical_fov_deg", fov)
        if not 0.0 <= self.min_range_m < self.max_range_m:
            raise ValueError(f"LidarConfig needs 0 <= min_range_m < max_range_m, "
                             f"got {self.min_range_m} and {self.max_range_m}")
        if not self.range_noise_m >= 0.0:
            raise ValueError(f"LidarConfig.range_noise_m must be >= 0, got {self.range_noise_m}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LidarConfig.dropout must be in [0, 1), got {self.dropout}")


@functools.lru_cache(maxsize=8)
def lidar_directions(config: LidarConfig) -> np.ndarray:
    """Unit beam directions of one revolution, computed once per sensor configuration.

    Returns:
        (azimuth_steps * beams, 3) float64 read-only unit vectors, LiDAR frame (x forward, y left,
        z up), column by column: row ``column * beams + beam``.
    """
    elevation = np.deg2rad(np.linspace(*config.vertical_fov_deg, config.beams))
    azimuth = 2.0 * np.pi * np.arange(config.azimuth_steps) / config.azimuth_steps
    az, el = np.meshgrid(azimuth, elevation, indexing="ij")
    directions = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1).reshape(-1, 3)
    directions.setflags(write=False)
    return directions


def simulate_lidar(scene: Scene, T_world_lidar: np.ndarray, config: LidarConfig, rng: np.random.Generator,
                   *, nthreads: int = 0) -> np.ndarray:
    """One revolution of a spinning LiDAR in ``scene``.

    Hits whose true range lies in [min_range_m, max_range_m] are kept; each gets Gaussian
    noise of ``range_noise_m`` along its ray, then a ``dropout`` share is dropped at random.
    The same ``rng`` state gives byte-identical output.

    Args:
        scene: the scene, world frame (its Embree scene is cached).
        T_world_lidar: (4, 4) pose of the sensor, LiDAR frame to world, metres.
        config: the sensor.
        rng: random generator for the noise and the dropout.
        nthreads: Embree threads; 0 = all cores.

    Returns:
        (N, 3) float32 points, metres, LiDAR frame (x forward, y left, z up).
    """
    T = as_transform(T_world_lidar, "T_world_lidar")
    # 1. Beam directions in the sensor frame, rotated into the world; all start at the sensor.
    directions = lidar_directions(config)
    hits = cast_rays(scene, T[:3, 3], np.einsum("ij,kj->ik", directions, T[:3, :3]), nthreads=nthreads)
    # 2. Keep returns within the range window (true range), in sweep order.
    keep = np.flatnonzero(hits.hit & (hits.t_m >= config.min_range_m) & (hits.t_m <= config.max_range_m))
    range_m = hits.t_m[keep]
    # 3. Noise along the ray, then dropout.
    if config.range_noise_m > 0:
        range_m = range_m + rng.normal(0.0, config.range_noise_m, len(keep))
    survive = rng.random(len(keep)) >= config.dropout
    points = directions[keep[survive]] * range_m[survive, None]
    logger.debug("simulated LiDAR: %d rays, %d returns, %d after dropout", len(directions), len(keep), len(points))
    return points.astype(np.float32)
