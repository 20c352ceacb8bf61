"""Rigid transforms as 4x4 homogeneous matrices (``T_a_b`` maps frame b to frame a)."""

from __future__ import annotations

import numpy as np

from datagen.errors import GeometryError

#: OpenGL camera axes (x right, y up, z backward) to OpenCV axes (x right, y down, z forward).
T_CV_FROM_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def as_transform(matrix: object, name: str = "transform", *, check_rigid: bool = True) -> np.ndarray:
    """Validate a 4x4 rigid transform and return it as float64.

    Args:
        matrix: (4, 4) array-like. A (3, 4) matrix is refused: callers that read
            3x4 calibration must say so with ``make_transform(M[:, :3], M[:, 3])``.
        name: what the matrix is, for the error message.
        check_rigid: also require an orthonormal, right-handed rotation.

    Raises:
        GeometryError: wrong shape, non-finite values, or not a rigid transform.
    """
    T = np.asarray(matrix, dtype=np.float64)
    if T.shape != (4, 4):
        raise GeometryError(f"{name} must be a (4, 4) homogeneous transform, got shape {T.shape}")
    if not np.all(np.isfinite(T)):
        raise GeometryError(f"{name} has non-finite values")
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0], atol=1e-9):
        raise GeometryError(f"{name} last row must be [0, 0, 0, 1], got {T[3].tolist()}")
    if check_rigid:
        R = T[:3, :3]
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-5) or np.linalg.det(R) < 0:
            raise GeometryError(f"{name} rotation is not orthonormal and right-handed")
    return T


def make_transform(rotation: object, translation: object) -> np.ndarray:
    """Build ``T`` from a (3, 3) rotation and a (3,) translation in metres."""
    R = np.asarray(rotation, dtype=np.float64)
    t = np.asarray(translation, dtype=np.float64).reshape(-1)
    if R.shape != (3, 3) or t.shape != (3,):
        raise GeometryError(f"rotation must be (3, 3) and translation (3,), got {R.shape} and {t.shape}")
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t
    return T


def invert(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform: ``T_b_a`` from ``T_a_b``."""
    R = T[:3, :3]
    out = np.eye(4)
    out[:3, :3] = R.T
    out[:3, 3] = -R.T @ T[:3, 3]
    return out


def compose(*transforms: np.ndarray) -> np.ndarray:
    """Product of transforms left to right: ``compose(T_a_b, T_b_c) == T_a_c``."""
    out = np.eye(4)
    for T in transforms:
        out = out @ T
    return out


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply ``T_a_b`` to points in frame b.

    Args:
        T: (4, 4) float transform.
        points: (N, 3) float, metres, frame b.

    Returns:
        (N, 3) float64 points in frame a.
    """
    P = np.asarray(points, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] != 3:
        raise GeometryError(f"points must be (N, 3), got shape {P.shape}")
    return P @ T[:3, :3].T + T[:3, 3]


#: Quaternion component orders found in dataset files: scalar first (nuScenes, Argoverse 2, DDAD,
#: COLMAP) or scalar last (TUM RGB-D, scipy).
QUATERNION_ORDERS = ("wxyz", "xyzw")


def quaternion_to_matrix(q: object, order: str = "wxyz") -> np.ndarray:
    """Rotation matrices of unit quaternions (normalised first; q and -q give the same rotation).

    Args:
        q: (4,) or (N, 4) float quaternions in ``order``.
        order: "wxyz" (scalar first) or "xyzw" (scalar last).

    Returns:
        (3, 3) or (N, 3, 3) float64 rotation matrices.

    Raises:
        GeometryError: wrong shape, unknown order, or a zero or non-finite quaternion.
    """
    from scipy.spatial.transform import Rotation

    if order not in QUATERNION_ORDERS:
        raise GeometryError(f"quaternion order must be one of {QUATERNION_ORDERS}, got {order!r}")
    quats = np.asarray(q, dtype=np.float64)
    if quats.ndim not in (1, 2) or quats.shape[-1] != 4:
        raise GeometryError(f"quaternions must be (4,) or (N, 4), got shape {quats.shape}")
    single = quats.ndim == 1
    quats = quats.reshape(-1, 4)
    norms = np.linalg.norm(quats, axis=1)
    if not np.all(np.isfinite(quats)) or np.any(norms < 1e-12):
        raise GeometryError(f"quaternions must be finite and non-zero, got {quats[:3].tolist()}")
    xyzw = quats if order == "xyzw" else quats[:, [1, 2, 3, 0]]
    matrices = Rotation.from_quat(xyzw / norms[:, None]).as_matrix()
    return matrices[0] if single else matrices


def pose_from_quaternion(q: object, translation: object, order: str = "wxyz") -> np.ndarray:
    """(4, 4) rigid transform from a unit quaternion and a (3,) translation in metres."""
    return make_transform(quaternion_to_matrix(q, order), translation)
