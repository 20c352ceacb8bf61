"""Re-check every record of a build against its label, camera and image.

Checks, per record: the image exists and has the camera's size; the marker sits at
each labelled pixel, and two labelled points each read as their own (the layout puts
each letter clearly nearer its own point); the labelled 3D point lies on the ray through its pixel; the
value follows from the label (range or z from the 3D point, speed = range / time,
the two-point distance from both points, the pose from the relative transform);
and the answer text parses back to within ``ANSWER_RTOL`` (0.5%) of the value.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from datagen import records as layout
from datagen.markers import LABEL_NEARNESS_RATIO, MARKERS, check_marker, label_centre
from datagen.scoring import parse_answer
from datagen.tasks.base import ANSWER_RTOL
from datagen.types import Camera

VALUE_RTOL = 1e-6
PIXEL_TOL_PX = 1e-3


@dataclass
class ValidationReport:
    checked: int = 0
    failures: list = field(default_factory=list)  # (record id, what failed)

    @property
    def ok(self) -> bool:
        return not self.failures


def validate_build(build_dir: str | Path, limit: int | None = None) -> ValidationReport:
    """Check the records of a build (the first ``limit`` if given)."""
    build_dir = layout.check_build_dir(build_dir)
    report = ValidationReport()
    for record in layout.iter_records(build_dir):
        if limit is not None and report.checked >= limit:
            break
        report.checked += 1
        for problem in check_record(record, build_dir):
            report.failures.append((record.get("id", "?"), problem))
    return report


def check_record(record: dict, build_dir: Path) -> list[str]:
    """Every problem found with one record (empty when it is sound)."""
    try:
        camera = _record_camera(record)
        problems = _check_images(record, camera, build_dir)
        problems += _check_geometry(record, camera)
        problems += _check_value(record)
        problems += _check_answer(record)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        return [f"malformed record ({type(exc).__name__}: {exc})"]
    return problems


def _record_camera(record: dict) -> Camera:
    fx, fy, cx, cy, width, height = record["camera"]
    return Camera.from_intrinsics(fx, fy, cx, cy, int(width), int(height))


def _check_images(record: dict, camera: Camera, build_dir: Path) -> list[str]:
    problems = []
    for k, relpath in enumerate(record["images"]):
        path = build_dir / relpath
        if not path.is_file():
            problems.append(f"image {relpath} missing")
            continue
        stat = path.stat()
        image = _load_rgb(path, stat.st_mtime_ns, stat.st_size)
        size = _expected_size(record, k, camera)
        if (image.shape[1], image.shape[0]) != size:
            problems.append(f"image {relpath} is {image.shape[1]}x{image.shape[0]}, camera says {size[0]}x{size[1]}")
            continue
        if k == 0 and record["task"] != "pose":
            style = MARKERS.get(record["provenance"].get("marker", "arrow"))()
            for pixel in record["label"]["pixels"]:
                if not check_marker(image, np.asarray(pixel), style):
                    problems.append(f"no {style.name} marker at labelled pixel {pixel}")
            problems += _check_letters(record, style, image.shape)
    return problems


def _check_letters(record: dict, style, shape: tuple) -> list[str]:
    """Two labelled points: each letter's centre lies clearly nearer its own point (as drawn)."""
    pixels = np.asarray(record["label"]["pixels"], dtype=np.int64).reshape(-1, 2)
    if len(pixels) != 2:
        return []
    problems = []
    for k, parts in enumerate(style.layout(shape, pixels, ["A", "B"])):
        centre = label_centre(parts)
        own, other = np.hypot(*(centre - pixels[k])), np.hypot(*(centre - pixels[1 - k]))
        if own > LABEL_NEARNESS_RATIO * other:
            problems.append(f"letter {'AB'[k]} is not clearly nearer its point {pixels[k].tolist()} "
                            f"({own:.0f} px) than the other ({other:.0f} px)")
    return problems


@functools.lru_cache(maxsize=4)
def _load_rgb(path: Path, mtime_ns: int, size: int) -> np.ndarray:
    """Decode an image once for the consecutive records that share it (keyed also by its mtime and size)."""
    with Image.open(path) as handle:
        return np.asarray(handle.convert("RGB"))


def _expected_size(record: dict, k: int, camera: Camera) -> tuple[int, int]:
    cameras = record["label"].get("cameras")
    if k > 0 and cameras:
        return int(cameras[k][4]), int(cameras[k][5])
    return camera.width, camera.height


def _check_geometry(record: dict, camera: Camera) -> list[str]:
    label = record["label"]
    if record["task"] == "pose":
        return []
    points = np.asarray(label["points_cam"], dtype=np.float64).reshape(-1, 3)
    pixels = np.asarray(label["pixels"], dtype=np.float64).reshape(-1, 2)
    projected, valid = camera.project(points)
    problems = []
    if not valid.all() or np.abs(projected - pixels).max(initial=0) > PIXEL_TOL_PX:
        problems.append(f"label points do not project to their pixels ({projected.tolist()} vs {pixels.tolist()})")
    if not np.allclose(label["z_m"], points[:, 2], rtol=VALUE_RTOL):
        problems.append("label z_m differs from the points' z")
    if not np.allclose(label["range_m"], np.linalg.norm(points, axis=1), rtol=VALUE_RTOL):
        problems.append("label range_m differs from the points' distance")
    return problems


def expected_value(record: dict) -> float:
    """The value that the label implies, computed afresh."""
    label, task = record["label"], record["task"]
    if task == "pose":
        T = np.asarray(label["T_cam0_cam1"], dtype=np.float64)
        return float(np.linalg.norm(T[:3, 3]))
    points = np.asarray(label["points_cam"], dtype=np.float64).reshape(-1, 3)
    distance = float(np.linalg.norm(points[0]))
    if task == "distance":
        return distance
    if task == "axis_distance":
        return float(points[0, 2])
    if task == "speed":
        return distance / float(label["time_s"])
    if task == "time":
        return distance / float(label["speed_mps"])
    if task == "two_point":
        return float(np.linalg.norm(points[0] - points[1]))
    raise ValueError(f"unknown task {task!r}")


def _check_value(record: dict) -> list[str]:
    expected = expected_value(record)
    if not math.isclose(record["value"], expected, rel_tol=VALUE_RTOL, abs_tol=1e-9):
        return [f"value {record['value']} does not follow from the label ({expected})"]
    return []


def answer_tolerance(record: dict) -> float:
    """How far the answer's number may sit from the value: ``ANSWER_RTOL`` of it, whatever the task
    (answers state enough significant digits, and chains enough to survive rounding twice)."""
    return ANSWER_RTOL * abs(float(record["value"])) + 1e-9


def _check_answer(record: dict) -> list[str]:
    parsed = parse_answer(record["answer"], unit_hint=record["unit"])
    if parsed.value is None:
        return [f"answer does not parse ({parsed.reason})"]
    if abs(parsed.value - record["value"]) > answer_tolerance(record):
        return [f"answer states {parsed.value}, value is {record['value']}"]
    return []
