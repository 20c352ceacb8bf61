"""Exact ray casting with Open3D's RaycastingScene (Embree); the default renderer, no OpenGL.

Every pixel is one ray through its centre, made by ``camera.rays``, so every lens model
renders exactly, distortion included: a distorted camera renders a distorted image.

Precision: Embree works in float32. The scene is shifted to its bounding-box centre
before it is handed to Embree, and every hit is re-intersected in float64 with the plane
of the triangle Embree reports, so ranges are exact to float64 rounding (a plane at 5 m
gives z = 5 to about 1e-12 m before the float32 output).
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass

import numpy as np
from numba import njit

from datagen._optional import require
from datagen.render import register
from datagen.render.base import RenderResult, Renderer, background, pixel_rays, shade, to_uint8
from datagen.render.scene import Scene
from datagen.render.textures import albedo_of_objects
from datagen.types import Camera

logger = logging.getLogger(__name__)

#: Embree scenes and float64 face planes built so far, per live Scene object (dropped with it).
_GEOMETRY_CACHE: "weakref.WeakKeyDictionary[Scene, _Geometry]" = weakref.WeakKeyDictionary()
_PLANES_CACHE: "weakref.WeakKeyDictionary[Scene, FacePlanes]" = weakref.WeakKeyDictionary()
#: Below this |n . d| a hit is too grazing to re-intersect; the caster's own distance is kept.
_GRAZING = 1e-12
#: A re-intersection farther than this share of the distance from the caster's own is not
#: trusted (ill-conditioned near-grazing hit); the caster's distance is kept.
_MAX_CORRECTION = 1e-3


@dataclass(frozen=True, eq=False)
class FacePlanes:
    """A scene's triangles in float64, shifted to their bounding-box centre for float32 casters.

    Attributes:
        origin: (3,) float64 world point subtracted from every vertex, metres.
        vertices: (V, 3) float64 shifted vertices, metres.
        faces: (F, 3) int64 vertex indices (the faces of ``scene.merged()``).
        normals: (F, 3) float64 unit face normals in mesh orientation, world frame.
        plane_d: (F,) float64 ``normals . v0`` of each face (shifted frame), metres.
        face_object: (F,) int32 index into ``scene.objects`` of each face.
    """

    origin: np.ndarray
    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    plane_d: np.ndarray
    face_object: np.ndarray


@dataclass(frozen=True, eq=False)
class _Geometry:
    """A scene as Embree holds it (shifted vertices, float32) and its float64 face planes."""

    raycasting: object
    planes: FacePlanes


@dataclass(frozen=True, eq=False)
class RayHits:
    """First hits of a batch of rays.

    Attributes:
        t_m: (N,) float64 distance along each unit ray, metres; inf where nothing was hit.
        face: (N,) int64 index of the hit face in ``scene.merged()``; -1 where no hit.
        object_index: (N,) int32 index into ``scene.objects``; -1 where no hit.
        face_normals: (F, 3) float64 unit normals of all the scene's faces, world frame.
    """

    t_m: np.ndarray
    face: np.ndarray
    object_index: np.ndarray
    face_normals: np.ndarray

    @property
    def hit(self) -> np.ndarray:
        """(N,) bool: rays that hit a surface."""
        return self.face >= 0

    @property
    def normals(self) -> np.ndarray:
        """(N, 3) float64 unit mesh normals of the hit faces, world frame; 0 where no hit."""
        normals = self.face_normals[np.maximum(self.face, 0)]
        normals[self.face < 0] = 0.0
        return normals


def _build_planes(scene: Scene) -> FacePlanes:
    vertices, faces, face_object = scene.merged()
    origin = 0.5 * (vertices.min(axis=0) + vertices.max(axis=0))
    shifted = vertices - origin
    tri = shifted[faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(cross, axis=1, keepdims=True)
    normals = np.divide(cross, norm, out=np.zeros_like(cross), where=norm > 0)
    return FacePlanes(origin, shifted, faces, normals, np.einsum("ij,ij->i", normals, tri[:, 0]), face_object)


def face_planes(scene: Scene) -> FacePlanes:
    """The float64 face planes of ``scene``, built on first use and cached while ``scene`` lives."""
    planes = _PLANES_CACHE.get(scene)
    if planes is None:
        planes = _PLANES_CACHE[scene] = _build_planes(scene)
    return planes


def scene_geometry(scene: Scene) -> _Geometry:
    """The Embree scene of ``scene``, built on first use and cached while ``scene`` lives."""
    geometry = _GEOMETRY_CACHE.get(scene)
    if geometry is None:
        o3d = require("open3d", None, package="open3d-cpu")
        planes = face_planes(scene)
        raycasting = o3d.t.geometry.RaycastingScene()
        raycasting.add_triangles(o3d.core.Tensor(planes.vertices.astype(np.float32)),
                                 o3d.core.Tensor(planes.faces.astype(np.uint32)))
        geometry = _GEOMETRY_CACHE[scene] = _Geometry(raycasting, planes)
        logger.debug("built Embree scene %r: %d triangles", scene.name, len(planes.faces))
    return geometry


def cast_rays(scene: Scene, origins_world: np.ndarray, directions_world: np.ndarray, *,
              nthreads: int = 0) -> RayHits:
    """First intersection of rays with the scene's triangles, exact to float64.

    Args:
        scene: the scene; its Embree scene is cached.
        origins_world: (N, 3) or (3,) float ray origins, metres, world frame.
        directions_world: (N, 3) float unit directions, world frame.
        nthreads: Embree threads; 0 = all cores.

    Returns:
        RayHits of the N rays.
    """
    geometry = scene_geometry(scene)
    directions = np.ascontiguousarray(directions_world, dtype=np.float64).reshape(-1, 3)
    origins = np.asarray(origins_world, dtype=np.float64).reshape(-1, 3) - geometry.planes.origin
    if len(origins) not in (1, len(directions)):
        raise ValueError(f"cast_rays needs 1 or {len(directions)} origins, got {len(origins)}")
    return _cast(geometry, origins, directions, np.eye(3), nthreads)


#: Embree threads when a caller passes 0; a pool worker sets it to 1 so workers do not oversubscribe cores.
DEFAULT_THREADS = [0]


def _cast(geometry: _Geometry, origins: np.ndarray, directions: np.ndarray, rotation: np.ndarray,
          nthreads: int) -> RayHits:
    """Cast rays ``origins + t * rotation @ directions`` (origins in the shifted frame of the planes)."""
    o3d = require("open3d", None, package="open3d-cpu")
    origins, rotation = np.ascontiguousarray(origins), np.ascontiguousarray(rotation)
    rays = _pack_rays(origins, directions, rotation)
    nthreads = nthreads or DEFAULT_THREADS[0]
    answer = geometry.raycasting.cast_rays(o3d.core.Tensor.from_numpy(rays), nthreads=nthreads)
    t32 = answer["t_hit"].numpy()
    face = np.where(np.isfinite(t32), answer["primitive_ids"].numpy().astype(np.int64), -1)
    return hits_on_faces(geometry.planes, origins, directions, rotation, face, t32)


def hits_on_faces(planes: FacePlanes, origins: np.ndarray, directions: np.ndarray, rotation: np.ndarray,
                  face: np.ndarray, fallback_t: np.ndarray) -> RayHits:
    """Exact (float64) hits of rays on faces found by a float32 caster or rasteriser.

    Each ray is intersected with the plane of its face: t = (d_f - n_f . o) / (n_f . dir).

    Args:
        planes: the scene's face planes.
        origins: (N, 3) or (1, 3) float64 ray origins in the planes' shifted frame, metres.
        directions: (N, 3) float64 unit directions; ``rotation @ direction`` is the world direction.
        rotation: (3, 3) float64 rotation applied to ``directions``.
        face: (N,) int64 face seen by each ray; -1 where none.
        fallback_t: (N,) float the caster's own distance, kept where the ray grazes its face
            (|n . dir| < 1e-12) or the plane's distance is more than 0.1 % (+ 1 mm) away from it.

    Returns:
        RayHits of the N rays.
    """
    t, object_index = _plane_kernel(np.ascontiguousarray(origins), np.ascontiguousarray(directions),
                                    np.ascontiguousarray(rotation), np.ascontiguousarray(face), fallback_t,
                                    planes.normals, planes.plane_d, planes.face_object)
    return RayHits(t, face, object_index, planes.normals)


@njit(cache=True)
def _pack_rays(origins, directions, rotation):
    """(N, 6) float32 [origin, rotation @ direction] for Embree; origins is (N, 3) or (1, 3)."""
    rays = np.empty((len(directions), 6), dtype=np.float32)
    shared = len(origins) == 1
    for i in range(len(directions)):
        o = origins[0] if shared else origins[i]
        for r in range(3):
            rays[i, r] = o[r]
            rays[i, 3 + r] = (rotation[r, 0] * directions[i, 0] + rotation[r, 1] * directions[i, 1]
                              + rotation[r, 2] * directions[i, 2])
    return rays


@njit(cache=True)
def _plane_kernel(origins, directions, rotation, face, fallback_t, face_normals, plane_d, face_object):
    """Distance along each ray to the plane of its face (inf, -1 where no face) and its object."""
    n_rays = len(directions)
    t = np.full(n_rays, np.inf)
    object_index = np.full(n_rays, -1, dtype=np.int32)
    shared = len(origins) == 1
    for i in range(n_rays):
        f = face[i]
        if f < 0:
            continue
        o = origins[0] if shared else origins[i]
        n = face_normals[f]
        denominator, offset = 0.0, 0.0
        for r in range(3):
            world = (rotation[r, 0] * directions[i, 0] + rotation[r, 1] * directions[i, 1]
                     + rotation[r, 2] * directions[i, 2])
            denominator += n[r] * world
            offset += n[r] * o[r]
        t[i] = fallback_t[i]
        if abs(denominator) >= _GRAZING:
            refined = (plane_d[f] - offset) / denominator
            if abs(refined - fallback_t[i]) <= _MAX_CORRECTION * (1.0 + fallback_t[i]):
                t[i] = refined
        object_index[i] = face_object[f]
    return t, object_index


@njit(cache=True)
def _rotate(directions, rotation):
    """(N, 3) float64 ``rotation @ d`` for every row d, without BLAS (which fights Embree for threads)."""
    out = np.empty_like(directions)
    for i in range(len(directions)):
        for r in range(3):
            out[i, r] = (rotation[r, 0] * directions[i, 0] + rotation[r, 1] * directions[i, 1]
                         + rotation[r, 2] * directions[i, 2])
    return out


@register("raycast")
class RaycastRenderer(Renderer):
    """Exact ray-cast renderer (Open3D / Embree), the default.

    Args:
        nthreads: Embree threads for casting; 0 = all cores.
    """

    def __init__(self, *, nthreads: int = 0) -> None:
        if isinstance(nthreads, bool) or int(nthreads) != nthreads or nthreads < 0:
            raise ValueError(f"RaycastRenderer.nthreads must be an integer >= 0, got {nthreads!r}")
        self.nthreads = int(nthreads)

    def render(self, scene: Scene, camera: Camera, *, color: bool = True) -> RenderResult:
        """Render ``scene`` through ``camera``; see ``Renderer.render``."""
        h, w = camera.height, camera.width
        # 1. Camera-frame rays through every pixel centre (cached per intrinsics and lens).
        rays_cam = pixel_rays(camera)
        finite = np.isfinite(rays_cam[:, 2])
        valid = slice(None) if finite.all() else np.flatnonzero(finite)
        rays_valid = rays_cam[valid]
        # 2. Cast from the camera centre along the rays rotated into the world.
        geometry = scene_geometry(scene)
        R, centre = camera.T_world_cam[:3, :3], camera.T_world_cam[:3, 3]
        hits = _cast(geometry, (centre - geometry.planes.origin)[None], np.ascontiguousarray(rays_valid), R,
                     self.nthreads)
        # 3. Range is the distance along the unit ray; z its optical-axis component.
        range_m = np.full(h * w, np.nan, dtype=np.float32)
        range_m[valid] = np.where(hits.hit, hits.t_m, np.nan)
        z_m = np.full(h * w, np.nan, dtype=np.float32)
        with np.errstate(invalid="ignore"):  # inf * 0 on missed rays at 90 degrees (fisheye)
            z_m[valid] = np.where(hits.hit, hits.t_m * rays_valid[:, 2], np.nan)
        object_index = np.full(h * w, -1, dtype=np.int32)
        object_index[valid] = hits.object_index
        rgb = np.zeros((h * w, 3), dtype=np.uint8)
        if color:
            rgb[valid] = shade_hits(scene, centre, _rotate(rays_valid, R), hits)
        return RenderResult(rgb.reshape(h, w, 3), z_m.reshape(h, w), range_m.reshape(h, w),
                            object_index.reshape(h, w))


def shade_hits(scene: Scene, centre: np.ndarray, directions: np.ndarray, hits: RayHits) -> np.ndarray:
    """Colour seen along rays: shaded albedo where they hit, the sky elsewhere.

    Args:
        scene: materials, lights, ambient and background.
        centre: (3,) float64 common origin of the rays, metres, world frame.
        directions: (N, 3) float64 unit ray directions, world frame.
        hits: their hits (exact distances and faces).

    Returns:
        (N, 3) uint8 colour.
    """
    hit, miss = np.flatnonzero(hits.hit), np.flatnonzero(~hits.hit)
    d_hit = directions[hit]
    points = d_hit * hits.t_m[hit, None]
    points += centre
    normals = hits.face_normals[hits.face[hit]]
    albedo = albedo_of_objects(tuple(o.material for o in scene.objects), hits.object_index[hit], points, normals)
    # Face normals turned to face the camera (a plane seen from behind is lit on that side).
    normals *= np.where(np.einsum("ij,ij->i", normals, d_hit) > 0, -1.0, 1.0)[:, None]
    colours = np.empty((len(directions), 3))
    colours[hit] = shade(scene, albedo, normals)
    colours[miss] = background(scene, directions[miss])
    return to_uint8(colours)
