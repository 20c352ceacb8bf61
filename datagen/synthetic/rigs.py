"""Camera rigs and paths: intrinsics draws, look-at poses (OpenCV axes), walks, drives, orbits.

Poses are ``T_world_cam`` with OpenCV camera axes (x right, y down, z forward) in a z-up
world. The LiDAR is rigidly mounted on the camera with its own axes (x forward, y left,
z up) aligned with the camera's forward, left and up.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from datagen.errors import ConfigError
from datagen.geometry.cameras import radtan_max_radius
from datagen.geometry.se3 import make_transform
from datagen.synthetic.recipe import CameraRig, DistortionSpec
from datagen.synthetic.schema import Range, Size
from datagen.types import Camera

logger = logging.getLogger(__name__)

WORLD_UP = np.array([0.0, 0.0, 1.0])
#: Rotation from LiDAR axes (x forward, y left, z up) to OpenCV camera axes (x right, y down, z forward).
R_CAM_FROM_LIDAR = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
#: How many times a distortion is drawn again before the camera falls back to pinhole.
_DISTORTION_TRIES = 10
#: The image corner must stay below this share of the largest radius a radtan lens reaches.
_RADTAN_MARGIN = 0.95

#: Named rigs a source can put in place of every recipe's own ("wide": the ranges that matter for
#: training, 300-2500 px focal lengths on 640x480 to 1920x1216 images).
RIG_PRESETS: dict[str, CameraRig] = {
    "demo": CameraRig(resolutions=(Size((640, 480)),), focal_px=Range(400.0, 700.0), hfov_deg=Range(40.0, 100.0),
                      principal_jitter=0.02, redraw="frame"),
    "wide": CameraRig(
        resolutions=tuple(Size(s) for s in ((640, 480), (1024, 768), (1280, 720), (1600, 900), (1920, 1080),
                                            (1920, 1216))),
        focal_px=Range(300.0, 2500.0), hfov_deg=Range(35.0, 110.0), principal_jitter=0.03, redraw="frame",
        distortion=DistortionSpec(probability=0.3, k1=Range(-0.3, 0.05), k2=Range(0.0, 0.1),
                                  p1=Range(-0.001, 0.001), p2=Range(-0.001, 0.001))),
}


def focal_bounds(rig: CameraRig, width: int) -> tuple[float, float]:
    """The focal range (pixels) allowed for an image ``width`` pixels wide.

    ``rig.focal_px`` narrowed by ``rig.hfov_deg``: a wider field of view needs a shorter focal.
    When the two do not overlap, the focal closest to the field-of-view limits is used.
    """
    half = width / 2.0
    f_wide = half / math.tan(math.radians(rig.hfov_deg.hi) / 2.0)  # widest view, shortest focal
    f_narrow = half / math.tan(math.radians(rig.hfov_deg.lo) / 2.0)
    lo, hi = max(rig.focal_px.lo, f_wide), min(rig.focal_px.hi, f_narrow)
    if lo > hi:  # no overlap: keep the field of view, nearest to the focal range
        lo = hi = f_wide if rig.focal_px.hi < f_wide else f_narrow
    return lo, hi


def draw_intrinsics(rig: CameraRig, rng: np.random.Generator) -> Camera:
    """One camera (pose identity) drawn from a rig.

    Args:
        rig: resolutions, focal range, field-of-view limits, principal point jitter, distortion.
        rng: the generator; the same state gives the same camera.

    Returns:
        A Camera with fx = fy, model "radtan" (invertible over the whole image) or "pinhole".
    """
    width, height = rig.resolutions[int(rng.integers(len(rig.resolutions)))]
    lo, hi = focal_bounds(rig, width)
    focal = float(rng.uniform(lo, hi)) if hi > lo else lo
    jitter = rig.principal_jitter * rng.uniform(-1.0, 1.0, 2)
    cx, cy = (width - 1) / 2.0 + jitter[0] * width, (height - 1) / 2.0 + jitter[1] * height
    camera = Camera.from_intrinsics(focal, focal, cx, cy, width, height)
    if rng.random() < rig.distortion.probability:
        camera = _with_distortion(camera, rig.distortion, rng)
    return camera


def _with_distortion(camera: Camera, spec: DistortionSpec, rng: np.random.Generator) -> Camera:
    """The camera with radtan coefficients drawn until invertible over the whole image (else unchanged)."""
    for _ in range(_DISTORTION_TRIES):
        dist = np.array([spec.k1.draw(rng), spec.k2.draw(rng), spec.p1.draw(rng), spec.p2.draw(rng), 0.0])
        candidate = camera.replace(model="radtan", dist=dist)
        if distortion_invertible(candidate):
            return candidate
    logger.debug("no invertible distortion in %d draws for f=%.0f px, %dx%d: pinhole", _DISTORTION_TRIES,
                 camera.fx, camera.width, camera.height)
    return camera


def distortion_invertible(camera: Camera, step_px: int = 4) -> bool:
    """True when every pixel of the image has a viewing ray through the lens model.

    For radtan: the farthest image corner lies (with a margin) inside the largest distorted
    radius the lens reaches before it folds back (``radtan_max_radius``), and every border
    pixel unprojects to a finite ray.
    """
    if camera.is_pinhole:
        return True
    if camera.model == "radtan":
        r_fold = radtan_max_radius(camera.dist)
        if math.isfinite(r_fold):
            k1, k2 = camera.dist[0], camera.dist[1]
            k3 = camera.dist[4] if len(camera.dist) > 4 else 0.0
            r2 = r_fold * r_fold
            reach = r_fold * (1.0 + k1 * r2 + k2 * r2 * r2 + k3 * r2 ** 3)
            corners = np.array([[-0.5, -0.5], [camera.width - 0.5, camera.height - 0.5]])
            offsets = np.abs((corners - [camera.cx, camera.cy]) / [camera.fx, camera.fy]).max(axis=0)
            if float(np.hypot(*offsets)) >= _RADTAN_MARGIN * reach:
                return False
    return bool(np.isfinite(camera.rays(_border_pixels(camera, step_px))).all())


def _border_pixels(camera: Camera, step_px: int) -> np.ndarray:
    """(N, 2) pixel coordinates along the outer edge of the image, corners included."""
    w, h = camera.width - 0.5, camera.height - 0.5
    us = np.r_[np.arange(-0.5, w, step_px), w]
    vs = np.r_[np.arange(-0.5, h, step_px), h]
    return np.concatenate([np.column_stack([us, np.full_like(us, -0.5)]), np.column_stack([us, np.full_like(us, h)]),
                           np.column_stack([np.full_like(vs, -0.5), vs]), np.column_stack([np.full_like(vs, w), vs])])


def scaled(camera: Camera, scale: float) -> Camera:
    """The camera of the image resized by ``scale`` (DESIGN.md: u -> (u + 0.5) * s - 0.5).

    The field of view is kept; width and height are rounded, and the scale applied to the
    intrinsics is the exact width ratio (x) and height ratio (y).
    """
    if scale == 1.0:
        return camera
    width, height = max(1, round(camera.width * scale)), max(1, round(camera.height * scale))
    sx, sy = width / camera.width, height / camera.height
    return camera.replace(K=np.array([[camera.fx * sx, 0.0, (camera.cx + 0.5) * sx - 0.5],
                                      [0.0, camera.fy * sy, (camera.cy + 0.5) * sy - 0.5], [0.0, 0.0, 1.0]]),
                          width=width, height=height)


# --- poses -------------------------------------------------------------------------------------

def look_at(eye: np.ndarray, target: np.ndarray, roll_rad: float = 0.0) -> np.ndarray:
    """Camera pose looking from ``eye`` at ``target`` with world z up.

    Args:
        eye: (3,) camera centre, metres, world frame.
        target: (3,) point the optical axis passes through, world frame.
        roll_rad: rotation about the optical axis (positive turns the image clockwise as seen).

    Returns:
        (4, 4) float64 T_world_cam; columns of the rotation are the camera's x (right),
        y (down) and z (forward) axes in the world.
    """
    eye, target = np.asarray(eye, dtype=np.float64), np.asarray(target, dtype=np.float64)
    forward = target - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, WORLD_UP)
    norm = np.linalg.norm(right)
    if norm < 1e-9:
        raise ConfigError(f"look_at: the view from {eye.tolist()} to {target.tolist()} is vertical; "
                          "a camera path needs a pitch within (-90, 90) degrees")
    right /= norm
    down = np.cross(forward, right)
    c, s = math.cos(roll_rad), math.sin(roll_rad)
    right, down = c * right + s * down, -s * right + c * down
    return make_transform(np.column_stack([right, down, forward]), eye)


def heading_pose(eye: np.ndarray, yaw_rad: float, pitch_rad: float, roll_rad: float = 0.0) -> np.ndarray:
    """T_world_cam at ``eye`` looking along ``yaw_rad`` (from world +x toward +y), pitched up by ``pitch_rad``."""
    direction = np.array([math.cos(pitch_rad) * math.cos(yaw_rad), math.cos(pitch_rad) * math.sin(yaw_rad),
                          math.sin(pitch_rad)])
    return look_at(eye, np.asarray(eye, dtype=np.float64) + direction, roll_rad)


def lidar_mount(position_cam_m) -> np.ndarray:
    """T_cam_lidar of a LiDAR at ``position_cam_m`` (camera frame), axes forward/left/up of the camera.

    Args:
        position_cam_m: (3,) sensor position in the camera frame, metres (OpenCV axes).

    Returns:
        (4, 4) float64 transform from the LiDAR frame to the camera frame.
    """
    return make_transform(R_CAM_FROM_LIDAR, position_cam_m)


@dataclass(frozen=True, eq=False)
class CameraPath:
    """Poses of one sequence.

    Attributes:
        poses: (N, 4, 4) float64 T_world_cam, OpenCV axes, metres.
        timestamps_s: (N,) float64 capture times, seconds.
        step_m: distance between consecutive camera centres, metres (orbit: the chord).
    """

    poses: np.ndarray
    timestamps_s: np.ndarray
    step_m: float

    def __post_init__(self) -> None:
        poses = np.asarray(self.poses, dtype=np.float64)
        if poses.ndim != 3 or poses.shape[1:] != (4, 4) or len(poses) != len(self.timestamps_s):
            raise ValueError(f"CameraPath.poses must be (N, 4, 4) with N timestamps, got {poses.shape}")

    @property
    def centres(self) -> np.ndarray:
        """(N, 3) camera centres, world frame, metres."""
        return self.poses[:, :3, 3]


def straight_path(start: np.ndarray, heading_rad: float, step_m: float, frames: int, interval_s: float,
                  pitch_rad: np.ndarray, yaw_offsets_rad: np.ndarray, roll_rad: np.ndarray) -> CameraPath:
    """A constant-speed straight path (walk, drive): centre i is ``start + i * step_m`` along the heading.

    Args:
        start: (3,) first camera centre, world frame, metres.
        heading_rad: direction of travel, from world +x toward +y.
        step_m: distance per frame, metres.
        frames: number of poses.
        interval_s: time between frames, seconds.
        pitch_rad, yaw_offsets_rad, roll_rad: (frames,) view angles per frame; the view
            heading is ``heading_rad + yaw_offsets_rad[i]``.
    """
    direction = np.array([math.cos(heading_rad), math.sin(heading_rad), 0.0])
    poses = [heading_pose(np.asarray(start) + i * step_m * direction, heading_rad + yaw_offsets_rad[i],
                          pitch_rad[i], roll_rad[i]) for i in range(frames)]
    return CameraPath(np.stack(poses), np.arange(frames) * interval_s, step_m)


def orbit_path(centre: np.ndarray, radius_m: float, height_m: float, start_rad: float, step_rad: float,
               frames: int, interval_s: float, targets: np.ndarray, roll_rad: np.ndarray) -> CameraPath:
    """Poses on a horizontal circle around ``centre``, each looking at its target.

    Args:
        centre: (3,) circle centre, world frame (the table top centre), metres.
        radius_m: circle radius, metres.
        height_m: camera height above ``centre``, metres.
        start_rad: angle of the first pose, from world +x toward +y.
        step_rad: angle between consecutive poses (signed).
        frames: number of poses.
        interval_s: time between frames, seconds.
        targets: (frames, 3) points looked at, world frame.
        roll_rad: (frames,) roll per frame.
    """
    angles = start_rad + step_rad * np.arange(frames)
    eyes = np.column_stack([centre[0] + radius_m * np.cos(angles), centre[1] + radius_m * np.sin(angles),
                            np.full(frames, centre[2] + height_m)])
    poses = np.stack([look_at(eyes[i], targets[i], roll_rad[i]) for i in range(frames)])
    return CameraPath(poses, np.arange(frames) * interval_s, 2.0 * radius_m * abs(math.sin(step_rad / 2.0)))
