"""The types that flow through datagen: Camera, Frame, DepthView, Sample, QARecord.

Each is a frozen dataclass holding numpy arrays; ``__post_init__`` converts
array-likes, checks shapes and values, and marks arrays read-only.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datagen.errors import CameraError, DatagenError
from datagen.geometry import cameras as _cameras
from datagen.geometry.se3 import as_transform

DEPTH_KINDS = ("z", "range")
SPLITS = ("train", "val", "test")


def _frozen_array(obj: object, name: str, value: object, dtype=np.float64) -> np.ndarray:
    array = np.array(value, dtype=dtype, copy=True)
    array.setflags(write=False)
    object.__setattr__(obj, name, array)
    return array


def _check_shape(owner: str, name: str, array: np.ndarray, shape: tuple) -> None:
    """Raise ValueError unless ``array.shape`` matches ``shape`` (None matches any size)."""
    ok = array.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, array.shape))
    if not ok:
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{owner}.{name} must be {want}, got {tuple(array.shape)}")


@dataclass(frozen=True, eq=False)
class Camera:
    """A camera: intrinsics, lens model, image size and pose.

    Attributes:
        K: (3, 3) float64 intrinsic matrix, pixels (OpenCV pixel-centre convention).
        width: image width in pixels.
        height: image height in pixels.
        model: "pinhole", "radtan" (OpenCV k1, k2, p1, p2[, k3]) or "fisheye" (k1..k4).
        dist: (0,), (4,) or (5,) float64 distortion coefficients of ``model``.
        T_world_cam: (4, 4) float64 camera-to-world transform, metres.
    """

    K: np.ndarray
    width: int
    height: int
    model: str = "pinhole"
    dist: np.ndarray = field(default_factory=lambda: np.zeros(0))
    T_world_cam: np.ndarray = field(default_factory=lambda: np.eye(4))

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64)
        if K.shape != (3, 3):
            raise CameraError(f"Camera.K must be (3, 3), got {K.shape}")
        if not np.all(np.isfinite(K)):
            raise CameraError(f"Camera.K has non-finite values: {K.tolist()}")
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise CameraError(f"Camera focal lengths must be > 0, got fx={K[0, 0]}, fy={K[1, 1]}")
        if K[1, 0] != 0 or K[2, 0] != 0 or K[2, 1] != 0 or K[2, 2] != 1:
            raise CameraError(f"Camera.K must be upper triangular with K[2, 2] = 1, got {K.tolist()}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or int(value) != value or value <= 0:
                raise CameraError(f"Camera.{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.model not in _cameras.CAMERA_MODELS:
            raise CameraError(f"Camera.model must be one of {_cameras.CAMERA_MODELS}, got {self.model!r}")
        dist = np.asarray(self.dist, dtype=np.float64).reshape(-1)
        if len(dist) not in _cameras.DIST_SIZES[self.model]:
            if self.model == "pinhole" and not np.any(dist):
                dist = np.zeros(0)
            else:
                raise CameraError(
                    f"Camera.dist for model {self.model!r} must have {_cameras.DIST_SIZES[self.model]} "
                    f"coefficients, got {len(dist)}"
                )
        if not np.all(np.isfinite(dist)):
            raise CameraError(f"Camera.dist has non-finite values: {dist.tolist()}")
        try:
            T = as_transform(self.T_world_cam, "Camera.T_world_cam")
        except DatagenError as exc:
            raise CameraError(str(exc)) from None
        _frozen_array(self, "K", K)
        _frozen_array(self, "dist", dist)
        _frozen_array(self, "T_world_cam", T)

    @classmethod
    def from_intrinsics(cls, fx: float, fy: float, cx: float, cy: float, width: int, height: int,
                        **kwargs: Any) -> "Camera":
        """Build a camera from focal lengths and principal point in pixels."""
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        return cls(K=K, width=width, height=height, **kwargs)

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    @property
    def is_pinhole(self) -> bool:
        return self.model == "pinhole" or not np.any(self.dist)

    def intrinsics(self) -> list[float]:
        """``[fx, fy, cx, cy, width, height]`` as stored in records."""
        return [self.fx, self.fy, self.cx, self.cy, self.width, self.height]

    def replace(self, **changes: Any) -> "Camera":
        return dataclasses.replace(self, **changes)

    def project(self, points_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) camera-frame points -> ((N, 2) pixels, (N,) valid). See geometry.cameras.project."""
        return _cameras.project(self, points_cam)

    def unproject(self, uv: np.ndarray, *, z_m=None, range_m=None) -> np.ndarray:
        """(N, 2) pixels -> (N, 3) camera-frame points at the given z or range."""
        return _cameras.unproject(self, uv, z_m=z_m, range_m=range_m)

    def rays(self, uv: np.ndarray) -> np.ndarray:
        """(N, 2) pixels -> (N, 3) unit viewing rays, camera frame."""
        return _cameras.unproject_rays(self, uv)

    def contains(self, uv: np.ndarray) -> np.ndarray:
        """(N,) bool: pixel coordinates that fall on a pixel of the image."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        with np.errstate(invalid="ignore"):
            return (
                (uv[:, 0] >= -0.5) & (uv[:, 0] < self.width - 0.5)
                & (uv[:, 1] >= -0.5) & (uv[:, 1] < self.height - 0.5)
            )


@dataclass(frozen=True, eq=False)
class Frame:
    """One image with its camera and ground truth, as a source yields it.

    Exactly one of ``image_path`` and ``image`` gives the picture; at least one of
    ``points``, ``depth_m`` and ``mesh`` gives the ground truth.

    Attributes:
        frame_id: unique id, "<source>/<sequence>/<frame>".
        source: name of the source that made it.
        camera: the camera of the image, with ``T_world_cam`` where known.
        image_path: path of the image file on disk.
        image: (H, W, 3) uint8 image held in memory (synthetic frames).
        points: (N, 3) float LiDAR points, metres, in the frame ``T_cam_points`` maps from.
        T_cam_points: (4, 4) transform from the points' frame to the camera frame.
        depth_m: (H, W) float32 depth map in the frame's own image; 0 or NaN = no label.
        depth_kind: what ``depth_m`` holds: "z" (optical axis) or "range" (Euclidean).
        mesh: a triangle mesh in the world frame (trimesh.Trimesh), for rendering.
        sequence: sequence or scene id; splits and frame pairs never cross it.
        timestamp_s: capture time in seconds.
        split: the dataset's official split, if it has one.
        meta: free-form provenance (file names, sensor names).
        label_mask: (H, W) bool in the frame's own image: True where the picture shows what the
            ground truth describes (an annotated object's visible pixels, not the ego vehicle's
            body); labels elsewhere are dropped whatever the ground truth. None: everywhere.
    """

    frame_id: str
    source: str
    camera: Camera
    image_path: Path | None = None
    image: np.ndarray | None = None
    points: np.ndarray | None = None
    T_cam_points: np.ndarray = field(default_factory=lambda: np.eye(4))
    depth_m: np.ndarray | None = None
    depth_kind: str = "z"
    mesh: Any = None
    sequence: str = ""
    timestamp_s: float = 0.0
    split: str | None = None
    meta: dict = field(default_factory=dict)
    label_mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.frame_id:
            raise ValueError("Frame.frame_id must be a non-empty string")
        if not isinstance(self.camera, Camera):
            raise ValueError(f"Frame.camera must be a Camera, got {type(self.camera).__name__}")
        if (self.image_path is None) == (self.image is None):
            raise ValueError(f"Frame {self.frame_id}: give exactly one of image_path and image")
        if self.image_path is not None:
            object.__setattr__(self, "image_path", Path(self.image_path))
        if self.image is not None:
            image = np.asarray(self.image)
            expected = (self.camera.height, self.camera.width, 3)
            if image.shape != expected or image.dtype != np.uint8:
                raise ValueError(f"Frame.image must be {expected} uint8, got {image.shape} {image.dtype}")
        if self.points is None and self.depth_m is None and self.mesh is None:
            raise ValueError(f"Frame {self.frame_id}: no ground truth (points, depth_m or mesh)")
        if self.points is not None:
            points = np.asarray(self.points)
            _check_shape("Frame", "points", points, (None, 3))
        object.__setattr__(self, "T_cam_points", as_transform(self.T_cam_points, "Frame.T_cam_points"))
        if self.depth_m is not None:
            depth = np.asarray(self.depth_m)
            _check_shape("Frame", "depth_m", depth, (self.camera.height, self.camera.width))
        if self.label_mask is not None:
            mask = np.asarray(self.label_mask)
            _check_shape("Frame", "label_mask", mask, (self.camera.height, self.camera.width))
            if mask.dtype != np.bool_:
                raise ValueError(f"Frame.label_mask must be bool, got {mask.dtype}")
        if self.depth_kind not in DEPTH_KINDS:
            raise ValueError(f"Frame.depth_kind must be one of {DEPTH_KINDS}, got {self.depth_kind!r}")
        if self.split is not None and self.split not in SPLITS:
            raise ValueError(f"Frame.split must be one of {SPLITS} or None, got {self.split!r}")


@dataclass(frozen=True, eq=False)
class DepthView:
    """Depth labels of one image: where each labelled 3D point lands and how far it is.

    Attributes:
        camera: the camera whose image the pixels refer to.
        pixels: (N, 2) float64 sub-pixel projections (u, v) of the labelled points.
        z_m: (N,) float64 optical-axis depth, metres.
        range_m: (N,) float64 Euclidean distance from the camera centre, metres.
        points_cam: (N, 3) float64 labelled points, metres, camera frame.
        depth_from: where the labels came from: "lidar", "depth_map" or "mesh".
    """

    camera: Camera
    pixels: np.ndarray
    z_m: np.ndarray
    range_m: np.ndarray
    points_cam: np.ndarray
    depth_from: str = "lidar"

    def __post_init__(self) -> None:
        pixels = _frozen_array(self, "pixels", self.pixels)
        n = len(pixels) if pixels.ndim else 0
        pixels = _frozen_array(self, "pixels", pixels.reshape(n, 2) if n == 0 else pixels)
        _check_shape("DepthView", "pixels", pixels, (None, 2))
        n = len(pixels)
        for name, shape in (("z_m", (n,)), ("range_m", (n,)), ("points_cam", (n, 3))):
            array = np.asarray(getattr(self, name), dtype=np.float64)
            if array.size == 0:
                array = array.reshape(shape)
            _check_shape("DepthView", name, array, shape)
            _frozen_array(self, name, array)
        if n and not (np.all(np.isfinite(self.points_cam)) and np.all(self.z_m > 0)):
            raise ValueError("DepthView labels must be finite with z_m > 0")

    @classmethod
    def empty(cls, camera: Camera, depth_from: str = "lidar") -> "DepthView":
        return cls(camera, np.zeros((0, 2)), np.zeros(0), np.zeros(0), np.zeros((0, 3)), depth_from)

    @classmethod
    def from_points(cls, camera: Camera, points_cam: np.ndarray, pixels: np.ndarray,
                    depth_from: str = "lidar") -> "DepthView":
        """Build a view whose z and range follow from the camera-frame points."""
        points_cam = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
        return cls(camera, np.asarray(pixels, dtype=np.float64).reshape(-1, 2), points_cam[:, 2],
                   np.linalg.norm(points_cam, axis=1), points_cam, depth_from)

    def __len__(self) -> int:
        return len(self.z_m)

    def subset(self, index: np.ndarray) -> "DepthView":
        """A view keeping the labels selected by a boolean mask or index array."""
        return DepthView(self.camera, self.pixels[index], self.z_m[index], self.range_m[index],
                         self.points_cam[index], self.depth_from)

    def pixel_indices(self) -> np.ndarray:
        """(N, 2) int64: the pixel (column, row) each label falls on."""
        return np.floor(self.pixels + 0.5).astype(np.int64)

    def z_image(self) -> np.ndarray:
        """(H, W) float32 image of the nearest labelled z per pixel; NaN where unlabelled."""
        image = np.full((self.camera.height, self.camera.width), np.inf, dtype=np.float64)
        if len(self):
            cols, rows = self.pixel_indices().T
            np.minimum.at(image, (rows, cols), self.z_m)
        image[np.isinf(image)] = np.nan
        return image.astype(np.float32)


@dataclass(frozen=True, eq=False)
class Sample:
    """What a task needs: the labelled pixel(s) of one image, or two frames for the pose task.

    Attributes:
        frame_ids: id of each image involved (one, or two for the pose task).
        cameras: the normalised camera of each image.
        pixels: (K, 2) int64 labelled pixel centres (u, v) in the first image (K = 0 for pose).
        points_cam: (K, 3) float64 their 3D points, metres, first camera's frame.
        T_cam0_cam1: (4, 4) pose of the second camera in the first camera's frame (pose task).
        source: source name.
        split: "train", "val" or "test".
        depth_from: "lidar", "depth_map" or "mesh".
        seed: the seed the sample was drawn with.
    """

    frame_ids: tuple[str, ...]
    cameras: tuple[Camera, ...]
    pixels: np.ndarray
    points_cam: np.ndarray
    source: str
    split: str = "train"
    depth_from: str = "lidar"
    seed: int = 0
    T_cam0_cam1: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "frame_ids", tuple(self.frame_ids))
        object.__setattr__(self, "cameras", tuple(self.cameras))
        if len(self.frame_ids) != len(self.cameras) or not self.frame_ids:
            raise ValueError("Sample needs one camera per frame id, and at least one frame")
        pixels = _frozen_array(self, "pixels", np.asarray(self.pixels).reshape(-1, 2), dtype=np.int64)
        points = _frozen_array(self, "points_cam", np.asarray(self.points_cam).reshape(-1, 3))
        if len(pixels) != len(points):
            raise ValueError(f"Sample.pixels has {len(pixels)} rows but points_cam has {len(points)}")
        if self.T_cam0_cam1 is not None:
            object.__setattr__(self, "T_cam0_cam1", as_transform(self.T_cam0_cam1, "Sample.T_cam0_cam1"))
        if self.split not in SPLITS:
            raise ValueError(f"Sample.split must be one of {SPLITS}, got {self.split!r}")

    @property
    def z_m(self) -> np.ndarray:
        return self.points_cam[:, 2]

    @property
    def range_m(self) -> np.ndarray:
        return np.linalg.norm(self.points_cam, axis=1)


RECORD_KEYS = ("id", "task", "split", "images", "question", "answer", "value", "unit",
               "template_id", "label", "camera", "provenance")


@dataclass(frozen=True, eq=False)
class QARecord:
    """The canonical, trainer-neutral record (DESIGN.md section 4)."""

    id: str
    task: str
    split: str
    images: tuple[str, ...]
    question: str
    answer: str
    value: float
    unit: str
    template_id: str
    label: dict
    camera: list
    provenance: dict

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", tuple(self.images))
        if self.split not in SPLITS:
            raise ValueError(f"QARecord.split must be one of {SPLITS}, got {self.split!r}")
        if not np.isfinite(self.value):
            raise ValueError(f"QARecord {self.id}: value must be finite, got {self.value}")

    def to_dict(self) -> dict:
        out = {key: getattr(self, key) for key in RECORD_KEYS}
        out["images"] = list(self.images)
        out["value"] = float(self.value)
        return out

    def to_json(self) -> str:
        """One JSON line, byte-identical for equal records."""
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict) -> "QARecord":
        missing = [key for key in RECORD_KEYS if key not in data]
        if missing:
            raise ValueError(f"record {data.get('id', '?')!r} lacks {missing}")
        return cls(**{key: data[key] for key in RECORD_KEYS})
