"""Factories of task samples: one point, two points, or two frames with a relative pose."""

from __future__ import annotations

import numpy as np
import pytest

from datagen.tasks import REGISTRY
from datagen.types import Sample
from tests.conftest import make_camera


def point_sample(points, camera=None) -> Sample:
    """A sample whose pixels are the projections of ``points`` (K, 3), metres, camera frame."""
    camera = camera or make_camera()
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pixels = np.rint(camera.project(points)[0]).astype(np.int64) if len(points) else np.zeros((0, 2))
    return Sample(frame_ids=("test/seq/0",), cameras=(camera,), pixels=pixels, points_cam=points, source="test")


def pose_sample(T_cam0_cam1, camera=None) -> Sample:
    """Two frames of one camera, the second at ``T_cam0_cam1`` (4, 4) in the first's frame."""
    camera = camera or make_camera()
    return Sample(frame_ids=("test/seq/0", "test/seq/1"), cameras=(camera, camera), pixels=np.zeros((0, 2)),
                  points_cam=np.zeros((0, 3)), source="test", T_cam0_cam1=T_cam0_cam1)


def random_points(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) points in front of a camera, 0.5 to 80 m deep, within about +-40 degrees."""
    z = rng.uniform(0.5, 80.0, n)
    xy = rng.uniform(-0.8, 0.8, (n, 2)) * z[:, None]
    return np.column_stack([xy, z])


def random_pose(rng: np.random.Generator) -> np.ndarray:
    """A rigid (4, 4) transform: a random rotation (QR of a Gaussian) and a translation up to 20 m."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    T = np.eye(4)
    T[:3, :3] = q
    T[:3, 3] = rng.normal(size=3) * rng.uniform(0.01, 10.0)
    return T


@pytest.fixture(scope="session")
def tasks():
    return REGISTRY.load_builtins()
