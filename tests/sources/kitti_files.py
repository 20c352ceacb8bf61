"""Write KITTI raw drives and tracking sequences for tests, in the official layouts, from the real object
sample (its Velodyne scan, image and calibration) and an OXTS track made up from a chosen motion.

OXTS packets are written from metric positions with the inverse of the devkit's Mercator
conversion (``convertPoseToOxts``/``mercatorToLatlon``), so the devkit's ``convertOxtsToPose``
gives those positions back (relative to the first packet).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

OBJECT = "kitti_object_kuixu/training"
EARTH_RADIUS_M = 6378137.0
LAT0, LON0, ALT0 = 49.011, 8.424, 112.0  # Karlsruhe
T0 = datetime(2011, 9, 26, 13, 2, 25)


def read_object_calibration(shared_data: Path) -> dict:
    """The object sample's calib/000000.txt as {key: array}."""
    calib = {}
    for line in (shared_data / OBJECT / "calib" / "000000.txt").read_text().splitlines():
        if ":" in line:
            key, values = line.split(":", 1)
            calib[key] = np.array(values.split(), dtype=np.float64)
    return calib


def fmt(values) -> str:
    return " ".join(f"{v:.12e}" for v in np.asarray(values, dtype=np.float64).ravel())


def oxts_packets(positions_m: np.ndarray, yaw_rad: np.ndarray) -> np.ndarray:
    """(N, 30) packets for IMU positions (east, north, up; metres from the first) and headings."""
    scale = np.cos(np.radians(LAT0))
    mx0 = scale * np.radians(LON0) * EARTH_RADIUS_M
    my0 = scale * EARTH_RADIUS_M * np.log(np.tan(np.radians(90.0 + LAT0) / 2.0))
    mx, my = mx0 + positions_m[:, 0], my0 + positions_m[:, 1]
    packets = np.zeros((len(positions_m), 30))
    packets[:, 0] = 360.0 / np.pi * np.arctan(np.exp(my / (scale * EARTH_RADIUS_M))) - 90.0
    packets[:, 1] = mx * 180.0 / (np.pi * scale * EARTH_RADIUS_M)
    packets[:, 2] = ALT0 + positions_m[:, 2]
    packets[:, 5] = yaw_rad
    packets[:, 25:30] = [4, 10, 4, 4, 4]  # navstat, numsats, position/velocity/orientation modes
    return packets


def stamp(seconds: float) -> str:
    """KITTI's timestamp text for ``T0 + seconds``, to the nanosecond."""
    ns = int(round(float(seconds) * 1e9))
    t = T0 + timedelta(microseconds=ns // 1000)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond:06d}{ns % 1000:03d}"


def link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.symlink(source, target)


def write_raw_drive(root: Path, shared_data: Path, times_s: np.ndarray, positions_m: np.ndarray,
                    yaw_rad: np.ndarray | None = None, sweep_s: float = 0.1035, drive: str = "2011_09_26_drive_0005",
                    oxts_time_offset_s: float = 0.0) -> Path:
    """A raw drive (calibration, images, scans, OXTS, timestamps); returns the drive folder.

    Every frame reuses the object sample's scan and image; the camera fires half-way through each
    sweep (the scanner facing forward).
    """
    calib = read_object_calibration(shared_data)
    date = root / drive[:10]
    date.mkdir(parents=True, exist_ok=True)
    (date / "calib_cam_to_cam.txt").write_text(
        "calib_time: 09-Jan-2012 13:57:47\ncorner_dist: 9.950000e-02\n"
        f"S_rect_02: 1.224000e+03 3.700000e+02\nR_rect_00: {fmt(calib['R0_rect'])}\n"
        f"P_rect_00: {fmt(calib['P0'])}\nP_rect_02: {fmt(calib['P2'])}\nP_rect_03: {fmt(calib['P3'])}\n")
    Tr = calib["Tr_velo_to_cam"].reshape(3, 4)
    (date / "calib_velo_to_cam.txt").write_text(
        f"calib_time: 15-Mar-2012 11:37:16\nR: {fmt(Tr[:, :3])}\nT: {fmt(Tr[:, 3])}\n"
        "delta_f: 0.000000e+00 0.000000e+00\ndelta_c: 0.000000e+00 0.000000e+00\n")
    Ti = calib["Tr_imu_to_velo"].reshape(3, 4)
    (date / "calib_imu_to_velo.txt").write_text(f"calib_time: 25-May-2012 16:47:16\nR: {fmt(Ti[:, :3])}\nT: {fmt(Ti[:, 3])}\n")
    folder = date / f"{drive}_sync"
    yaw = np.zeros(len(times_s)) if yaw_rad is None else yaw_rad
    packets = oxts_packets(positions_m, yaw)
    for i, t in enumerate(times_s):
        name = f"{i:010d}"
        link(shared_data / OBJECT / "image_2" / "000000.png", folder / "image_02" / "data" / f"{name}.png")
        link(shared_data / OBJECT / "velodyne" / "000000.bin", folder / "velodyne_points" / "data" / f"{name}.bin")
        (folder / "oxts" / "data").mkdir(parents=True, exist_ok=True)
        (folder / "oxts" / "data" / f"{name}.txt").write_text(" ".join(repr(float(v)) for v in packets[i]) + "\n")
    lines = lambda values: "".join(stamp(v) + "\n" for v in values)  # noqa: E731
    (folder / "image_02" / "timestamps.txt").write_text(lines(times_s))
    (folder / "oxts" / "timestamps.txt").write_text(lines(np.asarray(times_s) + oxts_time_offset_s))
    (folder / "velodyne_points" / "timestamps.txt").write_text(lines(times_s))
    (folder / "velodyne_points" / "timestamps_start.txt").write_text(lines(np.asarray(times_s) - sweep_s / 2))
    (folder / "velodyne_points" / "timestamps_end.txt").write_text(lines(np.asarray(times_s) + sweep_s / 2))
    return folder


def write_tracking_sequence(root: Path, shared_data: Path, positions_m: np.ndarray, yaw_rad: np.ndarray | None = None,
                            folder: str = "training", seq: str = "0007") -> Path:
    """A tracking sequence: calib/<seq>.txt (keys R_rect, Tr_velo_cam, Tr_imu_velo without a colon, as the
    official files write them), oxts/<seq>.txt, velodyne/<seq>/, image_02/<seq>/."""
    calib = read_object_calibration(shared_data)
    base = root / folder
    (base / "calib").mkdir(parents=True, exist_ok=True)
    (base / "calib" / f"{seq}.txt").write_text(
        "".join(f"P{i}: {fmt(calib[f'P{i}'])}\n" for i in range(4))
        + f"R_rect {fmt(calib['R0_rect'])}\nTr_velo_cam {fmt(calib['Tr_velo_to_cam'])}\n"
        f"Tr_imu_velo {fmt(calib['Tr_imu_to_velo'])}\n")
    yaw = np.zeros(len(positions_m)) if yaw_rad is None else yaw_rad
    packets = oxts_packets(positions_m, yaw)
    (base / "oxts").mkdir(parents=True, exist_ok=True)
    (base / "oxts" / f"{seq}.txt").write_text("".join(" ".join(repr(float(v)) for v in p) + "\n" for p in packets))
    for i in range(len(positions_m)):
        link(shared_data / OBJECT / "image_2" / "000000.png", base / "image_02" / seq / f"{i:06d}.png")
        link(shared_data / OBJECT / "velodyne" / "000000.bin", base / "velodyne" / seq / f"{i:06d}.bin")
    return base
