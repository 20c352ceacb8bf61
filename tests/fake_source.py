"""A small source for pipeline tests: tilted planes seen by varied cameras, with optional bad frames.

Used as ``source: "tests.fake_source:PlaneSource"`` so spawned workers can import it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datagen.errors import SourceError
from datagen.sources.base import Source
from datagen.types import Camera, Frame

BAD_KINDS = ("missing_image", "corrupt_image", "nan_depth", "no_valid_pixel")


class PlaneSource(Source):
    """``frames`` frames in sequences of ``per_sequence``; each sees a plane tilted away from the camera."""

    @dataclass(frozen=True)
    class Config:
        root: Path | None = None
        frames: int = 6
        per_sequence: int = 3
        bad: tuple = ()  # (frame index, kind) pairs, kind in BAD_KINDS; needs root for image files
        delay_s: float = 0.0
        announce_dir: Path | None = None  # each load writes <pid>-<index> there: which process built which frame

    def frame_ids(self) -> list[str]:
        n, per = self.config.frames, self.config.per_sequence
        return [f"plane/seq{i // per}/{i:04d}" for i in range(n)]

    def load_frame(self, frame_id: str) -> Frame:
        index = int(frame_id.rsplit("/", 1)[1])
        if self.config.announce_dir is not None:
            (Path(self.config.announce_dir) / f"{os.getpid()}-{index}").touch()
        time.sleep(self.config.delay_s)
        bad = dict((int(i), kind) for i, kind in self.config.bad).get(index)
        camera = _camera(index)
        depth = _plane_depth(camera, 3.0 + index)
        if bad == "nan_depth":
            depth[:] = np.nan
        if bad == "no_valid_pixel":
            depth[:] = 0.0
        image = np.random.default_rng(index).integers(0, 256, (camera.height, camera.width, 3), dtype=np.uint8)
        common = dict(frame_id=frame_id, source="plane", camera=camera, depth_m=depth,
                      sequence=frame_id.rsplit("/", 1)[0], timestamp_s=float(index))
        if bad in ("missing_image", "corrupt_image"):
            path = Path(self.config.root) / f"{index:04d}.png"
            if bad == "corrupt_image":
                path.write_bytes(b"not a png")
            return Frame(image_path=path, **common)
        return Frame(image=image, **common)


def _camera(index: int) -> Camera:
    sizes = [(320, 240), (400, 300), (360, 200)]
    width, height = sizes[index % 3]
    T = np.eye(4)
    T[0, 3] = 0.4 * index
    model, dist = [("pinhole", []), ("radtan", [-0.1, 0.02, 0.0, 0.0, 0.0]), ("pinhole", [])][index % 3]
    return Camera.from_intrinsics(250.0 + 40 * index, 240.0 + 40 * index, width / 2 - 3.5, height / 2 + 2.0,
                                  width, height, model=model, dist=dist, T_world_cam=T)


def _plane_depth(camera: Camera, base_m: float) -> np.ndarray:
    """z of the plane z = base + 0.5 * y (tilted, rising toward the image bottom) at every pixel."""
    v, u = np.mgrid[0: camera.height, 0: camera.width]
    rays = camera.rays(np.stack([u.ravel(), v.ravel()], axis=1).astype(float))
    t = base_m / (rays[:, 2] - 0.5 * rays[:, 1])  # solve t*rz = base + 0.5*t*ry
    z = (t * rays[:, 2]).reshape(camera.height, camera.width)
    if not np.all(z > 0):
        raise SourceError("plane not in front of the camera")
    return z.astype(np.float32)


class RigSource(PlaneSource):
    """PlaneSource seen by two named cameras with official splits: for frame selection tests.

    Frame ids ``rig/seq<k>/<index:04d>/<camera>``; sequence 0 is train, 1 val, 2 test.
    Its LiDAR-like points are a grid on the plane, and it asks for a wider see-through window.
    """

    occlusion_defaults = {"window_px": 31}
    CAMERAS = ("left", "right")
    SPLIT_OF_SEQUENCE = ("train", "val", "test")

    def frame_table(self):
        from datagen.sources.base import FrameTable

        n, per = self.config.frames, self.config.per_sequence
        rows = [(f"rig/seq{i // per}/{i:04d}/{cam}", f"rig/seq{i // per}", cam,
                 self.SPLIT_OF_SEQUENCE[(i // per) % 3]) for i in range(n) for cam in self.CAMERAS]
        return FrameTable(*map(list, zip(*rows)))

    frame_ids = Source.frame_ids

    def load_frame(self, frame_id: str) -> Frame:
        prefix, camera_name = frame_id.rsplit("/", 1)
        index = int(prefix.rsplit("/", 1)[1])
        plane = super().load_frame(f"plane/seq{index // self.config.per_sequence}/{index:04d}")
        grid = _grid(plane.camera)
        points = plane.camera.unproject(grid, z_m=plane.depth_m[grid[:, 1].astype(int), grid[:, 0].astype(int)])
        split = self.SPLIT_OF_SEQUENCE[(index // self.config.per_sequence) % 3]
        return Frame(frame_id=frame_id, source="rig", camera=plane.camera, image=plane.image, points=points,
                     sequence=prefix.rsplit("/", 1)[0], split=split, meta={"camera": camera_name})


def _grid(camera: Camera) -> np.ndarray:
    u, v = np.meshgrid(np.arange(0, camera.width, 4.0), np.arange(0, camera.height, 4.0))
    return np.column_stack([u.ravel(), v.ravel()])
