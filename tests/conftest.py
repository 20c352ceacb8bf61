"""Factories shared by the tests. Every random test seeds ``np.random.default_rng(0)``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datagen.types import Camera, Frame

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

#: Distortion strong enough to matter but invertible over the whole image of ``make_camera``.
DISTORTIONS = {
    "pinhole": [],
    "radtan": [-0.28, 0.07, 0.0012, -0.0008, 0.0],
    "fisheye": [0.08, -0.03, 0.01, -0.002],
}


def make_camera(model: str = "pinhole", fx: float = 500.0, fy: float | None = None,
                width: int = 640, height: int = 480, cx: float | None = None, cy: float | None = None,
                dist=None, T_world_cam=None) -> Camera:
    """A camera with the principal point near the image centre by default."""
    return Camera.from_intrinsics(
        fx, fx if fy is None else fy,
        (width - 1) / 2 if cx is None else cx, (height - 1) / 2 if cy is None else cy,
        width, height, model=model,
        dist=DISTORTIONS[model] if dist is None else dist,
        T_world_cam=np.eye(4) if T_world_cam is None else T_world_cam,
    )


def make_frame(camera: Camera | None = None, *, points=None, depth_m=None, frame_id: str = "test/seq/0",
               sequence: str = "seq", rng=None) -> Frame:
    """A frame with a random in-memory image and the given ground truth (a plane at 5 m by default)."""
    camera = camera or make_camera()
    rng = rng or np.random.default_rng(0)
    image = rng.integers(0, 256, size=(camera.height, camera.width, 3), dtype=np.uint8)
    if points is None and depth_m is None:
        depth_m = np.full((camera.height, camera.width), 5.0, dtype=np.float32)
    return Frame(frame_id=frame_id, source="test", camera=camera, image=image, points=points,
                 depth_m=depth_m, sequence=sequence)


def pixel_grid(camera: Camera, step: int = 8) -> np.ndarray:
    """(N, 2) pixel centres covering the whole image, corners included."""
    us = np.unique(np.r_[np.arange(0, camera.width, step), camera.width - 1]).astype(float)
    vs = np.unique(np.r_[np.arange(0, camera.height, step), camera.height - 1]).astype(float)
    return np.stack(np.meshgrid(us, vs), axis=-1).reshape(-1, 2)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not found (the shared samples sit beside the checkout)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance (2 CPUs) shared by the tests that need one; the ray engine uses it as it is.

    It listens on 127.0.0.1 only (Ray's own switch for that), and its workers import ``tests.fake_source``.
    """
    import os

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read when ray is imported: node address 127.0.0.1
    ray = pytest.importorskip("ray")
    root = str(Path(__file__).resolve().parents[1])
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": root}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 API (moto's server) on 127.0.0.1, with an empty bucket ``datagen-test``; stops after the session.

    Yields the ``storage_options`` of an s3fs file system that reaches it (test credentials, its endpoint).
    """
    import logging

    pytest.importorskip("s3fs")
    server_module = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {"key": "testing", "secret": "testing", "skip_instance_cache": True,
               "client_kwargs": {"endpoint_url": f"http://{host}:{port}", "region_name": "us-east-1"}}
    import boto3  # moto's own dependency

    boto3.client("s3", aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1",
                 endpoint_url=f"http://{host}:{port}").create_bucket(Bucket="datagen-test")
    yield options
    server.stop()
