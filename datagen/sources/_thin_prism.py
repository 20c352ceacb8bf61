"""COLMAP's THIN_PRISM_FISHEYE lens, forward and inverse, vectorised.

ETH3D calibrates its distorted DSLR images (``dslr_calibration_jpg/cameras.txt``) with this
model, and its ground-truth depth maps belong to those images. datagen's ``Camera`` has no
such lens model; the eth3d source uses this module only to turn depth-map pixels into rays.

The model, as COLMAP writes it (``src/colmap/sensor/models.h``,
``ThinPrismFisheyeCameraModel``), with parameters ``fx, fy, cx, cy, k1, k2, p1, p2, k3, k4,
sx1, sy1``, maps a ray ``(x, y, 1)`` to a pixel in three steps:

1. equidistant fisheye: ``theta = atan(r)``, ``(u, v) = theta / r * (x, y)`` (r = |(x, y)|);
2. ``du = u * radial + 2 p1 u v + p2 (r2 + 2 u^2) + sx1 r2`` and
   ``dv = v * radial + 2 p2 u v + p1 (r2 + 2 v^2) + sy1 r2``, where ``r2 = u^2 + v^2`` and
   ``radial = k1 r2 + k2 r2^2 + k3 r2^3 + k4 r2^4``;
3. ``pixel = (fx (u + du) + cx, fy (v + dv) + cy)``, in COLMAP's pixel convention (the
   image's top-left corner at (0, 0), so pixel centres at half-integers).

The inverse solves step 2 by Newton's method with the analytic Jacobian, as COLMAP's
``IterativeUndistortion`` does (it uses a numeric one), then undoes step 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODEL = "THIN_PRISM_FISHEYE"
PARAM_COUNT = 12
#: Newton steps of the inverse, and the residual (normalised image units) that counts as solved.
MAX_ITERATIONS = 30
TOLERANCE = 1e-12
#: Points solved per batch (bounds the inverse's temporary memory).
CHUNK = 1 << 20


@dataclass(frozen=True, eq=False)
class ThinPrismFisheye:
    """A THIN_PRISM_FISHEYE camera.

    Attributes:
        width: image width, pixels.
        height: image height, pixels.
        params: (12,) float64 ``fx, fy, cx, cy, k1, k2, p1, p2, k3, k4, sx1, sy1`` (COLMAP's order,
            COLMAP's pixel convention).
    """

    width: int
    height: int
    params: np.ndarray

    def __post_init__(self) -> None:
        params = np.asarray(self.params, dtype=np.float64).reshape(-1)
        if params.shape != (PARAM_COUNT,) or not np.all(np.isfinite(params)) or params[0] <= 0 or params[1] <= 0:
            raise ValueError(f"{MODEL} needs {PARAM_COUNT} finite parameters with fx, fy > 0, got {params.tolist()}")
        object.__setattr__(self, "params", params)

    def project(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) normalised rays (x/z, y/z) -> (N, 2) pixels, COLMAP convention."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        r = np.hypot(xy[:, 0], xy[:, 1])
        scale = np.where(r > 1e-15, np.arctan(r) / np.where(r > 1e-15, r, 1.0), 1.0)
        w = xy * scale[:, None]  # 1. fisheye angle coordinates
        distorted = w + _distortion(self.params[4:], w)  # 2.
        return distorted * self.params[:2] + self.params[2:4]  # 3.

    def unproject(self, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2) pixels, COLMAP convention -> ((N, 2) normalised rays (x/z, y/z), (N,) solved).

        A pixel is unsolved (its ray NaN) when Newton's method does not converge or the ray
        would point 90 degrees or more off the optical axis.
        """
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        xy = np.empty_like(uv)
        ok = np.empty(len(uv), dtype=bool)
        for start in range(0, len(uv), CHUNK):
            part = slice(start, start + CHUNK)
            xy[part], ok[part] = self._unproject_chunk(uv[part])
        return xy, ok

    def _unproject_chunk(self, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        target = (uv - self.params[2:4]) / self.params[:2]  # undo 3.
        w = target.copy()
        for _ in range(MAX_ITERATIONS):  # undo 2.: solve w + D(w) = target
            residual = w + _distortion(self.params[4:], w) - target
            if np.all(np.abs(residual) < TOLERANCE):
                break
            w -= _solve(_jacobian(self.params[4:], w), residual)
        residual = np.abs(w + _distortion(self.params[4:], w) - target).max(axis=1)
        theta = np.hypot(w[:, 0], w[:, 1])
        ok = np.isfinite(residual) & (residual < 1e3 * TOLERANCE) & (theta < np.pi / 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(theta > 1e-15, np.tan(theta) / np.where(theta > 1e-15, theta, 1.0), 1.0)  # undo 1.
        xy = w * scale[:, None]
        xy[~ok] = np.nan
        return xy, ok


def _distortion(k: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(N, 2) (du, dv) of fisheye coordinates w = (u, v); k = (k1, k2, p1, p2, k3, k4, sx1, sy1)."""
    k1, k2, p1, p2, k3, k4, sx1, sy1 = k
    u, v = w[:, 0], w[:, 1]
    r2 = u * u + v * v
    radial = r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4)))
    du = u * radial + 2 * p1 * u * v + p2 * (r2 + 2 * u * u) + sx1 * r2
    dv = v * radial + 2 * p2 * u * v + p1 * (r2 + 2 * v * v) + sy1 * r2
    return np.column_stack([du, dv])


def _jacobian(k: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(N, 2, 2) derivative of w + D(w) with respect to w."""
    k1, k2, p1, p2, k3, k4, sx1, sy1 = k
    u, v = w[:, 0], w[:, 1]
    r2 = u * u + v * v
    radial = r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4)))
    slope = k1 + r2 * (2 * k2 + r2 * (3 * k3 + r2 * 4 * k4))  # d radial / d r2
    jac = np.empty((len(w), 2, 2))
    jac[:, 0, 0] = 1 + radial + 2 * u * u * slope + 2 * p1 * v + 6 * p2 * u + 2 * sx1 * u
    jac[:, 0, 1] = 2 * u * v * slope + 2 * p1 * u + 2 * p2 * v + 2 * sx1 * v
    jac[:, 1, 0] = 2 * u * v * slope + 2 * p2 * v + 2 * p1 * u + 2 * sy1 * u
    jac[:, 1, 1] = 1 + radial + 2 * v * v * slope + 2 * p2 * u + 6 * p1 * v + 2 * sy1 * v
    return jac


def _solve(jac: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve the (N, 2, 2) systems ``jac @ x = rhs`` in closed form (NaN where singular)."""
    a, b, c, d = jac[:, 0, 0], jac[:, 0, 1], jac[:, 1, 0], jac[:, 1, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        det = a * d - b * c
        return np.column_stack([(d * rhs[:, 0] - b * rhs[:, 1]) / det, (a * rhs[:, 1] - c * rhs[:, 0]) / det])
