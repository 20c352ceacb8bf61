"""What every renderer returns and shares: RenderResult, the Renderer interface, pixel rays,
Lambert shading and the sky background.

A renderer draws a :class:`~datagen.render.scene.Scene` through a
:class:`~datagen.types.Camera` and returns colour, optical-axis depth ``z_m``,
Euclidean ``range_m`` and the index of the object seen at each pixel. Pixel
``(u, v)`` is sampled at its centre (integer coordinates, OpenCV convention).
"""

from __future__ import annotations

import abc
import logging
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from datagen.errors import DatagenError
from datagen.render.scene import Scene
from datagen.types import Camera

logger = logging.getLogger(__name__)

#: How many cameras' pixel rays ``pixel_rays`` keeps (a 1920x1080 set is 50 MB).
_RAY_CACHE_SIZE = 4
_RAY_CACHE: "OrderedDict[tuple, np.ndarray]" = OrderedDict()


class RenderError(DatagenError):
    """A scene or camera cannot be rendered by the chosen backend."""


@dataclass(frozen=True, eq=False)
class RenderResult:
    """One rendered image with its exact per-pixel geometry.

    Attributes:
        color: (H, W, 3) uint8 shaded colour (background where no surface).
        z_m: (H, W) float32 optical-axis depth, metres; NaN where no surface.
        range_m: (H, W) float32 Euclidean distance from the camera centre, metres; NaN where
            no surface.
        object_index: (H, W) int32 index into ``scene.objects``; -1 where no surface.
    """

    color: np.ndarray
    z_m: np.ndarray
    range_m: np.ndarray
    object_index: np.ndarray

    def __post_init__(self) -> None:
        color = np.asarray(self.color)
        if color.ndim != 3 or color.shape[2] != 3 or color.dtype != np.uint8:
            raise ValueError(f"RenderResult.color must be (H, W, 3) uint8, got {color.shape} {color.dtype}")
        shape = color.shape[:2]
        for name, dtype in (("z_m", np.float32), ("range_m", np.float32), ("object_index", np.int32)):
            array = np.asarray(getattr(self, name))
            if array.shape != shape or array.dtype != dtype:
                raise ValueError(f"RenderResult.{name} must be {shape} {np.dtype(dtype)}, "
                                 f"got {array.shape} {array.dtype}")

    @property
    def hit(self) -> np.ndarray:
        """(H, W) bool: pixels where a surface was hit."""
        return self.object_index >= 0


class Renderer(abc.ABC):
    """Draws a Scene through a Camera. Subclasses register with ``@register(name)``."""

    @abc.abstractmethod
    def render(self, scene: Scene, camera: Camera, *, color: bool = True) -> RenderResult:
        """Render ``scene`` as seen by ``camera``.

        Args:
            scene: objects in the world frame, metres.
            camera: intrinsics, lens model and ``T_world_cam`` (OpenCV axes).
            color: also shade the colour image; when False, ``color`` is all zeros.

        Returns:
            A RenderResult of the camera's size.
        """


def get_renderer(name: str = "raycast", **options) -> Renderer:
    """A new renderer registered as ``name`` ("raycast" or "pyrender"), built with ``options``."""
    from datagen.render import REGISTRY

    return REGISTRY.load_builtins().get(name)(**options)


def _camera_key(camera: Camera) -> tuple:
    return (camera.K.tobytes(), camera.model, camera.dist.tobytes(), camera.width, camera.height)


def pixel_rays(camera: Camera) -> np.ndarray:
    """Unit viewing rays through every pixel centre, cached per intrinsics and lens.

    Args:
        camera: any lens model; its pose is not used.

    Returns:
        (H * W, 3) float64 read-only unit rays, camera frame (OpenCV axes), row-major
        (pixel (u, v) at row ``v * W + u``); NaN rows where the lens model has no ray.
    """
    key = _camera_key(camera)
    if key in _RAY_CACHE:
        _RAY_CACHE.move_to_end(key)
        return _RAY_CACHE[key]
    u, v = np.meshgrid(np.arange(camera.width, dtype=np.float64), np.arange(camera.height, dtype=np.float64))
    rays = camera.rays(np.column_stack([u.ravel(), v.ravel()]))
    rays.setflags(write=False)
    _RAY_CACHE[key] = rays
    while len(_RAY_CACHE) > _RAY_CACHE_SIZE:
        _RAY_CACHE.popitem(last=False)
    return rays


def _unit(vectors: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norm, out=np.zeros_like(vectors), where=norm > 0)


def shade(scene: Scene, albedo: np.ndarray, normals_world: np.ndarray) -> np.ndarray:
    """Lambert shading: ``albedo * (ambient + sum of intensity * max(0, n . -light_dir))``.

    Args:
        scene: gives ``ambient`` and the directional ``lights``.
        albedo: (N, 3) float surface colour in [0, 1].
        normals_world: (N, 3) float unit normals, world frame, facing the viewer.

    Returns:
        (N, 3) float64 colour, not clipped (``to_uint8`` clips to [0, 1]).
    """
    light = np.full(len(albedo), float(scene.ambient))
    for source in scene.lights:
        toward_light = -_unit(np.asarray(source.direction_world, dtype=np.float64))
        light += float(source.intensity) * np.maximum(np.einsum("ij,j->i", normals_world, toward_light), 0.0)
    return albedo * light[:, None]


def background(scene: Scene, directions_world: np.ndarray) -> np.ndarray:
    """Sky gradient seen along world directions (world z up).

    ``scene.background_rgb`` at the horizon, 30 % darker at the zenith, 15 % darker below
    the horizon.

    Args:
        scene: gives ``background_rgb``.
        directions_world: (N, 3) float unit directions, world frame.

    Returns:
        (N, 3) float64 colour in [0, 1].
    """
    horizon = np.asarray(scene.background_rgb, dtype=np.float64)
    up = np.nan_to_num(directions_world[:, 2], nan=0.0)
    factor = np.where(up >= 0, 1.0 - 0.3 * np.sqrt(np.clip(up, 0.0, 1.0)), 0.85)
    return np.clip(horizon[None, :] * factor[:, None], 0.0, 1.0)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float colour (any shape) clipped to [0, 1], to uint8, rounding to nearest."""
    scaled = np.multiply(rgb, 255.0)
    scaled += 0.5
    return np.clip(scaled, 0.0, 255.0, out=scaled).astype(np.uint8)  # truncation of x + 0.5 rounds
