"""KITTI's OXTS (GPS/IMU) packets as poses, and KITTI timestamp files.

An OXTS packet is one line of 30 numbers (KITTI raw devkit readme, "GPS/IMU 3D localization
unit"): lat, lon (degrees), alt (m), roll, pitch, yaw (rad; yaw 0 = east, positive counter-
clockwise), then velocities, accelerations, angular rates and status. ``poses_from_oxts`` is the
devkit's ``convertOxtsToPose.m``: a Mercator projection with the scale of the first packet's
latitude, the rotation ``Rz(yaw) Ry(pitch) Rx(roll)``, and every pose expressed relative to the
first, so pose 0 is the identity. The result maps points from the IMU frame at each packet to the
IMU frame of the first packet: ``T_world_imu`` with the world fixed to the first IMU pose.

The IMU frame is x forward, y left, z up: the devkit readme's coordinate table says "x: forward,
y: right, z: down" for GPS/IMU, but its ``calib_imu_to_velo`` rotations are close to the identity
and the Velodyne frame is x forward, y left, z up, as are the poses this formula gives (yaw
counter-clockwise about z up). Used by the kitti source (raw and tracking layouts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datagen.errors import SourceError
from datagen.geometry.se3 import invert
from datagen.sources._io import parse_numbers, read_text

#: Values per OXTS packet (KITTI raw devkit readme).
OXTS_VALUES = 30
#: Earth radius the devkit's Mercator conversion uses (metres, equatorial).
EARTH_RADIUS_M = 6378137.0


def read_oxts_lines(path: Path, layout: str) -> np.ndarray:
    """(N, 30) float64 packets, one per non-empty line of ``path`` (raw: one file per frame; tracking: one per sequence)."""
    rows = []
    for number, line in enumerate(read_text(path, layout).splitlines(), start=1):
        if line.strip():
            rows.append(parse_numbers(line, OXTS_VALUES, f"{path}:{number}", f"an OXTS packet ({layout})"))
    if not rows:
        raise SourceError(f"{path}: no OXTS packet ({layout})")
    return np.array(rows)


def mercator_scale(lat_deg: float) -> float:
    """The devkit's ``latToScale``: cos(latitude)."""
    return float(np.cos(np.radians(lat_deg)))


def latlon_to_mercator(lat_deg: np.ndarray, lon_deg: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The devkit's ``latlonToMercator``: metres east and north on a Mercator map of scale ``scale``."""
    mx = scale * np.radians(lon_deg) * EARTH_RADIUS_M
    my = scale * EARTH_RADIUS_M * np.log(np.tan(np.radians(90.0 + np.asarray(lat_deg)) / 2.0))
    return mx, my


def rotation_from_oxts(roll: np.ndarray, pitch: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(N, 3, 3) ``Rz(yaw) @ Ry(pitch) @ Rx(roll)`` (OXTS RT3000 manual, as in the devkit)."""
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    one, zero = np.ones_like(roll), np.zeros_like(roll)
    Rx = np.stack([one, zero, zero, zero, cr, -sr, zero, sr, cr], -1).reshape(-1, 3, 3)
    Ry = np.stack([cp, zero, sp, zero, one, zero, -sp, zero, cp], -1).reshape(-1, 3, 3)
    Rz = np.stack([cy, -sy, zero, sy, cy, zero, zero, zero, one], -1).reshape(-1, 3, 3)
    return Rz @ Ry @ Rx


def poses_from_oxts(packets: np.ndarray) -> np.ndarray:
    """(N, 4, 4) float64 ``T_world_imu`` of each packet, the world being the first packet's IMU frame.

    Args:
        packets: (N, 30) OXTS packets (lat, lon, alt, roll, pitch, yaw first).
    """
    packets = np.asarray(packets, dtype=np.float64).reshape(-1, OXTS_VALUES)
    scale = mercator_scale(packets[0, 0])
    mx, my = latlon_to_mercator(packets[:, 0], packets[:, 1], scale)
    poses = np.tile(np.eye(4), (len(packets), 1, 1))
    poses[:, :3, :3] = rotation_from_oxts(packets[:, 3], packets[:, 4], packets[:, 5])
    poses[:, :3, 3] = np.stack([mx, my, packets[:, 2]], axis=1)
    return invert(poses[0]) @ poses


def read_timestamps(path: Path, layout: str) -> np.ndarray:
    """(N,) float64 seconds since the Unix epoch of a KITTI ``timestamps.txt`` ("2011-09-26 13:02:25.594980108").

    The clock is the recording's local time; only differences matter. Nanoseconds are kept
    exactly until the conversion to float64 (resolution about 0.24 us at these dates).
    """
    lines = [line.strip() for line in read_text(path, layout).splitlines()]
    values = []
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            stamp = np.datetime64(line.replace(" ", "T"), "ns")
        except ValueError:
            raise SourceError(f"{path}:{number}: not a timestamp 'YYYY-MM-DD hh:mm:ss.fffffffff', got {line[:40]!r} "
                              f"({layout})") from None
        values.append(stamp.astype(np.int64))
    if not values:
        raise SourceError(f"{path}: no timestamp ({layout})")
    return np.array(values, dtype=np.int64) * 1e-9
