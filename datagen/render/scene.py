"""A renderable scene: triangle meshes in the world frame with procedural materials and lights.

Scene recipes (``scenes/*.yaml``) build these; renderers (``datagen.render``) draw them.
The scene is kept apart from the renderer, so every backend draws the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PATTERNS = ("flat", "checker", "stripes", "noise", "brick")


@dataclass(frozen=True, eq=False)
class Material:
    """A procedural surface: a base colour and a pattern evaluated at the 3D hit point.

    Attributes:
        color_rgb: (3,) float base colour in [0, 1].
        pattern: one of ``PATTERNS``.
        pattern_rgb: (3,) float second colour of the pattern in [0, 1].
        scale_m: size of one pattern period (checker square, stripe, brick), metres.
        seed: seed of the noise pattern.
    """

    color_rgb: tuple = (0.7, 0.7, 0.7)
    pattern: str = "flat"
    pattern_rgb: tuple = (0.3, 0.3, 0.3)
    scale_m: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise ValueError(f"Material.pattern must be one of {PATTERNS}, got {self.pattern!r}")
        for name in ("color_rgb", "pattern_rgb"):
            rgb = np.asarray(getattr(self, name), dtype=np.float64)
            if rgb.shape != (3,) or rgb.min() < 0 or rgb.max() > 1:
                raise ValueError(f"Material.{name} must be 3 values in [0, 1], got {getattr(self, name)!r}")
            object.__setattr__(self, name, tuple(float(c) for c in rgb))
        if not self.scale_m > 0:
            raise ValueError(f"Material.scale_m must be > 0, got {self.scale_m}")


@dataclass(frozen=True, eq=False)
class SceneObject:
    """One object: a triangle mesh in the world frame (trimesh.Trimesh) and its material."""

    name: str
    kind: str
    mesh: object
    material: Material = field(default_factory=Material)


@dataclass(frozen=True)
class Light:
    """A directional light. ``direction_world`` is the (3,) direction the light travels."""

    direction_world: tuple = (0.3, -1.0, 0.2)
    intensity: float = 0.8


@dataclass(frozen=True, eq=False)
class Scene:
    """Objects, lights and a background colour; world frame, metres.

    The world frame of a recipe is z up; cameras carry ``T_world_cam`` with OpenCV axes.
    ``cull_back_faces``: a ray that first meets a triangle from behind (its normal facing
    away) gives no label; right for scans, whose faces point out of the surface, so a hit
    from behind means the ray went through a hole.
    """

    objects: tuple
    lights: tuple = (Light(),)
    ambient: float = 0.35
    background_rgb: tuple = (0.62, 0.72, 0.86)
    name: str = "scene"
    cull_back_faces: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "objects", tuple(self.objects))
        object.__setattr__(self, "lights", tuple(self.lights))
        if not self.objects:
            raise ValueError(f"Scene {self.name!r} has no objects")

    def merged(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All objects as one triangle soup.

        Returns:
            vertices: (V, 3) float64 world-frame vertices, metres.
            faces: (F, 3) int64 vertex indices.
            face_object: (F,) int32 index into ``objects`` of each face.
        """
        vertices, faces, owners, offset = [], [], [], 0
        for index, obj in enumerate(self.objects):
            v = np.asarray(obj.mesh.vertices, dtype=np.float64)
            f = np.asarray(obj.mesh.faces, dtype=np.int64)
            vertices.append(v)
            faces.append(f + offset)
            owners.append(np.full(len(f), index, dtype=np.int32))
            offset += len(v)
        return np.concatenate(vertices), np.concatenate(faces), np.concatenate(owners)
