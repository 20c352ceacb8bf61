"""Camera models: pinhole, radial-tangential (OpenCV k1, k2, p1, p2, k3) and fisheye
(Kannala-Brandt as OpenCV's fisheye module, k1..k4).

All functions are vectorised over N points and take a camera-like object with
``K`` (3, 3), ``model`` (one of ``CAMERA_MODELS``) and ``dist`` (distortion
coefficients). Distortion acts on normalised image coordinates ``(x/z, y/z)``;
its inverse is solved by Newton's method.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from datagen.errors import CameraError

CAMERA_MODELS = ("pinhole", "radtan", "fisheye")
DIST_SIZES = {"pinhole": (0,), "radtan": (4, 5), "fisheye": (4,)}

_NEWTON_ITERATIONS = 50
_NEWTON_TOLERANCE = 1e-14
#: Points closer to the camera plane than this (metres along z) are not projected.
MIN_Z_M = 1e-6


def _radtan_coeffs(dist: np.ndarray) -> tuple[float, float, float, float, float]:
    k1, k2, p1, p2 = (float(c) for c in dist[:4])
    k3 = float(dist[4]) if len(dist) > 4 else 0.0
    return k1, k2, p1, p2, k3


def _radtan_distort(x: np.ndarray, y: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k1, k2, p1, p2, k3 = _radtan_coeffs(dist)
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
    yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
    return xd, yd


def _radtan_undistort(xd: np.ndarray, yd: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invert radial-tangential distortion by Newton's method with the analytic Jacobian."""
    k1, k2, p1, p2, k3 = _radtan_coeffs(dist)
    x, y = xd.copy(), yd.copy()
    for _ in range(_NEWTON_ITERATIONS):
        r2 = x * x + y * y
        radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dradial = 2.0 * (k1 + r2 * (2.0 * k2 + 3.0 * k3 * r2))  # d(radial)/d(r2) * 2
        fx = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x) - xd
        fy = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y - yd
        j11 = radial + x * x * dradial + 2.0 * p1 * y + 6.0 * p2 * x
        j12 = x * y * dradial + 2.0 * p1 * x + 2.0 * p2 * y
        j21 = x * y * dradial + 2.0 * p1 * x + 2.0 * p2 * y
        j22 = radial + y * y * dradial + 6.0 * p1 * y + 2.0 * p2 * x
        det = j11 * j22 - j12 * j21
        with np.errstate(divide="ignore", invalid="ignore"):
            dx = (j22 * fx - j12 * fy) / det
            dy = (j11 * fy - j21 * fx) / det
        x = x - dx
        y = y - dy
        if np.nanmax(np.abs(dx) + np.abs(dy), initial=0.0) < _NEWTON_TOLERANCE:
            break
    # Distorted points beyond what the lens model reaches have no preimage: mark them NaN.
    xd_back, yd_back = _radtan_distort(x, y, dist)
    with np.errstate(invalid="ignore"):
        bad = (np.abs(xd_back - xd) + np.abs(yd_back - yd) > 1e-9) | (np.hypot(x, y) >= radtan_max_radius(dist))
    x[bad] = np.nan
    y[bad] = np.nan
    return x, y


@lru_cache(maxsize=256)
def _radtan_max_radius_cached(coeffs: tuple[float, ...]) -> float:
    """Largest normalised radius up to which radial distortion is monotonic (inf if always)."""
    k1, k2, _, _, k3 = _radtan_coeffs(np.asarray(coeffs))
    r = np.linspace(0.0, 20.0, 200001)
    r2 = r * r
    derivative = 1.0 + 3.0 * k1 * r2 + 5.0 * k2 * r2 * r2 + 7.0 * k3 * r2 * r2 * r2
    bad = np.nonzero(derivative <= 0.0)[0]
    return float(r[bad[0] - 1]) if len(bad) else float("inf")


def radtan_max_radius(dist: np.ndarray) -> float:
    """Normalised radius beyond which a radial-tangential model folds back (not invertible)."""
    return _radtan_max_radius_cached(tuple(float(c) for c in np.asarray(dist).ravel()))


def _fisheye_theta_d(theta: np.ndarray, dist: np.ndarray) -> np.ndarray:
    k1, k2, k3, k4 = (float(c) for c in dist[:4])
    t2 = theta * theta
    return theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))


def _fisheye_theta(theta_d: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Invert theta_d(theta) of the Kannala-Brandt model by Newton's method."""
    k1, k2, k3, k4 = (float(c) for c in dist[:4])
    theta = theta_d.copy()
    for _ in range(_NEWTON_ITERATIONS):
        t2 = theta * theta
        f = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
        df = 1.0 + t2 * (3.0 * k1 + t2 * (5.0 * k2 + t2 * (7.0 * k3 + t2 * 9.0 * k4)))
        step = f / df
        theta = theta - step
        if np.nanmax(np.abs(step), initial=0.0) < _NEWTON_TOLERANCE:
            break
    with np.errstate(invalid="ignore"):
        bad = (np.abs(_fisheye_theta_d(theta, dist) - theta_d) > 1e-9) | (theta > fisheye_max_theta(dist))
    theta[bad] = np.nan
    return theta


@lru_cache(maxsize=256)
def _fisheye_max_theta_cached(coeffs: tuple[float, ...]) -> float:
    k1, k2, k3, k4 = coeffs[:4]
    theta = np.linspace(0.0, np.pi, 100001)
    t2 = theta * theta
    derivative = 1.0 + t2 * (3.0 * k1 + t2 * (5.0 * k2 + t2 * (7.0 * k3 + t2 * 9.0 * k4)))
    bad = np.nonzero(derivative <= 0.0)[0]
    return float(theta[bad[0] - 1]) if len(bad) else float(np.pi)


def fisheye_max_theta(dist: np.ndarray) -> float:
    """Angle from the optical axis (radians) up to which the fisheye model is invertible."""
    return _fisheye_max_theta_cached(tuple(float(c) for c in np.asarray(dist).ravel()))


def distort_normalized(xy: np.ndarray, model: str, dist: np.ndarray) -> np.ndarray:
    """Map undistorted normalised coordinates (x/z, y/z) to distorted ones.

    Args:
        xy: (N, 2) float, normalised image coordinates (z = 1 plane).
        model: one of ``CAMERA_MODELS``.
        dist: distortion coefficients of the model.

    Returns:
        (N, 2) float64 distorted normalised coordinates.
    """
    xy = np.asarray(xy, dtype=np.float64)
    if model == "pinhole":
        return xy.copy()
    if model == "radtan":
        xd, yd = _radtan_distort(xy[:, 0], xy[:, 1], dist)
        return np.stack([xd, yd], axis=1)
    if model == "fisheye":
        r = np.hypot(xy[:, 0], xy[:, 1])
        theta_d = _fisheye_theta_d(np.arctan(r), dist)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(r > 0, theta_d / r, 1.0)
        return xy * scale[:, None]
    raise CameraError(f"unknown camera model {model!r}; known: {', '.join(CAMERA_MODELS)}")


def undistort_normalized(xy_d: np.ndarray, model: str, dist: np.ndarray) -> np.ndarray:
    """Inverse of ``distort_normalized`` (NaN where the fisheye angle reaches 90 degrees)."""
    xy_d = np.asarray(xy_d, dtype=np.float64)
    if model == "pinhole":
        return xy_d.copy()
    if model == "radtan":
        x, y = _radtan_undistort(xy_d[:, 0], xy_d[:, 1], dist)
        return np.stack([x, y], axis=1)
    rays = _fisheye_rays(xy_d, dist)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = rays[:, :2] / rays[:, 2:3]
    out[rays[:, 2] <= 0] = np.nan
    return out


def _fisheye_rays(xy_d: np.ndarray, dist: np.ndarray) -> np.ndarray:
    theta_d = np.hypot(xy_d[:, 0], xy_d[:, 1])
    theta = _fisheye_theta(theta_d, dist)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(theta_d > 0, np.sin(theta) / theta_d, 1.0)
    return np.column_stack([xy_d * scale[:, None], np.cos(theta)])


def _pixels_to_normalized(uv: np.ndarray, K: np.ndarray) -> np.ndarray:
    fx, fy, cx, cy, skew = K[0, 0], K[1, 1], K[0, 2], K[1, 2], K[0, 1]
    y = (uv[:, 1] - cy) / fy
    x = (uv[:, 0] - cx - skew * y) / fx
    return np.stack([x, y], axis=1)


def _normalized_to_pixels(xy: np.ndarray, K: np.ndarray) -> np.ndarray:
    u = K[0, 0] * xy[:, 0] + K[0, 1] * xy[:, 1] + K[0, 2]
    v = K[1, 1] * xy[:, 1] + K[1, 2]
    return np.stack([u, v], axis=1)


def project(camera, points_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project camera-frame points to pixels.

    Args:
        camera: object with ``K`` (3, 3), ``model`` and ``dist``.
        points_cam: (N, 3) float, metres, camera frame (OpenCV axes).

    Returns:
        uv: (N, 2) float64 pixel coordinates (NaN where invalid).
        valid: (N,) bool, True where the point lies in the region where the model is
            invertible: in front of the camera (z > 0) and not folded back by radial
            distortion; for the fisheye model, any angle up to where theta_d stops
            growing, which may exceed 90 degrees (callers that need z > 0 check it).
            Points outside the image are still valid here; callers crop to the image.
    """
    P = np.asarray(points_cam, dtype=np.float64)
    x, y, z = P[:, 0], P[:, 1], P[:, 2]
    finite = np.all(np.isfinite(P), axis=1)
    if camera.model == "fisheye":
        rxy = np.hypot(x, y)
        theta = np.arctan2(rxy, z)
        valid = finite & (theta <= fisheye_max_theta(camera.dist)) & ((rxy > 0) | (z > MIN_Z_M))
        theta_d = _fisheye_theta_d(theta, camera.dist)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(rxy > 0, theta_d / rxy, 0.0)
        xy_d = np.stack([x * scale, y * scale], axis=1)
    else:
        valid = finite & (z > MIN_Z_M)
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = np.stack([x / z, y / z], axis=1)
        if camera.model == "radtan":
            valid &= np.hypot(xy[:, 0], xy[:, 1]) < radtan_max_radius(camera.dist)
        xy_d = distort_normalized(xy, camera.model, camera.dist)
    uv = _normalized_to_pixels(xy_d, camera.K)
    uv[~valid] = np.nan
    return uv, valid


def unproject_rays(camera, uv: np.ndarray) -> np.ndarray:
    """Unit-length viewing rays through pixels.

    Args:
        camera: object with ``K``, ``model`` and ``dist``.
        uv: (N, 2) float pixel coordinates.

    Returns:
        (N, 3) float64 unit vectors in the camera frame.
    """
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    xy_d = _pixels_to_normalized(uv, camera.K)
    if camera.model == "fisheye":
        return _fisheye_rays(xy_d, camera.dist)
    xy = undistort_normalized(xy_d, camera.model, camera.dist)
    rays = np.column_stack([xy, np.ones(len(xy))])
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def unproject(camera, uv: np.ndarray, *, z_m=None, range_m=None) -> np.ndarray:
    """Back-project pixels to 3D camera-frame points at a given z or range.

    Args:
        camera: object with ``K``, ``model`` and ``dist``.
        uv: (N, 2) float pixel coordinates.
        z_m: (N,) or scalar distance along the optical axis, metres.
        range_m: (N,) or scalar Euclidean distance from the camera centre, metres.
            Give exactly one of ``z_m`` and ``range_m``.

    Returns:
        (N, 3) float64 points, metres, camera frame.
    """
    if (z_m is None) == (range_m is None):
        raise ValueError("give exactly one of z_m and range_m")
    rays = unproject_rays(camera, uv)
    if range_m is not None:
        return rays * np.asarray(range_m, dtype=np.float64).reshape(-1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return rays * (np.asarray(z_m, dtype=np.float64).reshape(-1, 1) / rays[:, 2:3])


def range_from_z(camera, uv: np.ndarray, z_m) -> np.ndarray:
    """Euclidean range (m) of the points at depth ``z_m`` along the rays through ``uv``."""
    rays = unproject_rays(camera, uv)
    return np.asarray(z_m, dtype=np.float64) / rays[:, 2]


def z_from_range(camera, uv: np.ndarray, range_m) -> np.ndarray:
    """Optical-axis depth (m) of the points at ``range_m`` along the rays through ``uv``."""
    rays = unproject_rays(camera, uv)
    return np.asarray(range_m, dtype=np.float64) * rays[:, 2]
