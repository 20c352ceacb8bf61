"""OpenGL renderer through pyrender (the pyrender2 fork): OSMesa on CPU, EGL on GPU machines.

OpenGL decides what each pixel sees: the scene is drawn once with every triangle in a
unique flat colour (a visibility buffer; 24-bit ids, so up to 16,777,215 triangles), and the
depth test keeps the nearest. Depth and colour then come from that triangle exactly: the
pixel's ray is intersected with the triangle's plane in float64, and the hit point is shaded
as the ray-cast renderer shades it. So where both backends see the same triangle they give
the same depth and colour; they can differ only on silhouettes, where a pixel centre lies
within rounding of a triangle edge. ``exact_depth=False`` returns the OpenGL depth buffer
instead (24 bits: an error of about ``z**2 * 6e-8 / znear_m`` metres).

Traps handled here (DESIGN.md section 7):

* ``PYOPENGL_PLATFORM`` must be set before PyOpenGL is first imported. When it is not set
  and there is no display, it is set to ``"osmesa"``; set ``PYOPENGL_PLATFORM=egl`` yourself
  on GPU machines.
* pyrender renders into a 4x multisampled framebuffer (EGL) and reads depth from one
  sample, which moves edge pixels and would blend triangle ids. The multisampled buffers are
  re-allocated single-sampled, so every pixel is sampled at its centre. (OSMesa renders into
  its own single-sampled buffer anyway.)
* pyrender centres pixel (u, v) at (u + 0.5, v + 0.5): the OpenCV principal point is handed
  over as (cx + 0.5, cy + 0.5). Its camera looks down -z (OpenGL): the pose is
  ``T_world_cam @ T_CV_FROM_GL``.
* A process that renders with OpenGL and then forks a worker pool hangs its workers.
  Render only in the workers (this renderer creates its OpenGL context lazily, on the first
  ``render`` call in each process) or start them with the ``spawn`` method.
"""

from __future__ import annotations

import logging
import os
import sys
import weakref
from dataclasses import dataclass

import numpy as np

from datagen._optional import require
from datagen.geometry.se3 import T_CV_FROM_GL
from datagen.render import register
from datagen.render.base import RenderError, RenderResult, Renderer, pixel_rays
from datagen.render.raycast import FacePlanes, face_planes, hits_on_faces, shade_hits
from datagen.render.scene import Scene
from datagen.types import Camera

logger = logging.getLogger(__name__)

#: Triangle ids are 24-bit colours; 0 is the background.
MAX_TRIANGLES = 2**24 - 1
#: OpenGL contexts of this process, one per (process id, width, height).
_CONTEXTS: dict[tuple[int, int, int], "_Context"] = {}


def _import_pyrender():
    """Import pyrender after choosing the PyOpenGL platform (osmesa when headless and unset)."""
    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if "PYOPENGL_PLATFORM" not in os.environ and sys.platform.startswith("linux") and headless:
        if "OpenGL" in sys.modules:
            logger.warning("PyOpenGL was imported before PYOPENGL_PLATFORM was set; "
                           "its platform is already chosen and 'osmesa' may not take effect")
        os.environ["PYOPENGL_PLATFORM"] = "osmesa"
    return require("pyrender", None, package="pyrender2")


def _single_sample(gl_renderer) -> None:
    """Make pyrender's offscreen framebuffers single-sampled (no 4x MSAA): one sample per pixel centre."""
    from OpenGL import GL

    configure = getattr(gl_renderer, "_configure_main_framebuffer", None)
    if configure is None:
        logger.warning("this pyrender has no _configure_main_framebuffer: its offscreen framebuffer stays "
                       "multisampled, and edge pixels on EGL may see blended triangle ids")
        return
    allocated = {}

    def configure_single_sampled() -> None:
        configure()
        key = (gl_renderer._main_cb_ms, gl_renderer._main_db_ms, gl_renderer._main_fb_dims)
        if allocated.get("key") != key:
            width, height = gl_renderer._main_fb_dims
            for buffer, fmt in ((gl_renderer._main_cb_ms, GL.GL_RGBA),
                                (gl_renderer._main_db_ms, GL.GL_DEPTH_COMPONENT24)):
                GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, buffer)
                GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, fmt, width, height)
            allocated["key"] = key

    gl_renderer._configure_main_framebuffer = configure_single_sampled


@dataclass(eq=False)
class _Context:
    """One OpenGL context of one size, and the GL scenes built in it."""

    offscreen: object
    scenes: "weakref.WeakKeyDictionary[Scene, _GLScene]"


@dataclass(frozen=True, eq=False)
class _GLScene:
    """A Scene as pyrender draws it: one mesh, each triangle flat in the colour of its id + 1.

    Attributes:
        scene: the pyrender.Scene (the camera is added per render).
        planes: the scene's float64 face planes; vertices are drawn in their shifted frame.
        corners: (8, 3) float64 shifted bounding-box corners (to place the far plane).
    """

    scene: object
    planes: FacePlanes
    corners: np.ndarray


def _build_gl_scene(pyrender, scene: Scene) -> _GLScene:
    planes = face_planes(scene)
    n_faces = len(planes.faces)
    if n_faces > MAX_TRIANGLES:
        raise RenderError(f"scene {scene.name!r} has {n_faces} triangles; the pyrender backend draws at most "
                          f"{MAX_TRIANGLES} (24-bit ids); use the 'raycast' renderer")
    code = np.arange(1, n_faces + 1)
    rgba = np.column_stack([code & 255, (code >> 8) & 255, (code >> 16) & 255, np.full(n_faces, 255)])
    material = pyrender.MetallicRoughnessMaterial(baseColorFactor=[1.0, 1.0, 1.0, 1.0], doubleSided=True)
    primitive = pyrender.Primitive(positions=planes.vertices[planes.faces].reshape(-1, 3).astype(np.float32),
                                   color_0=np.repeat(rgba.astype(np.uint8), 3, axis=0), material=material,
                                   mode=pyrender.constants.GLTF.TRIANGLES)
    gl_scene = pyrender.Scene(bg_color=[0.0, 0.0, 0.0, 1.0], ambient_light=[0.0, 0.0, 0.0])
    gl_scene.add(pyrender.Mesh([primitive], name=scene.name))
    lo, hi = planes.vertices.min(axis=0), planes.vertices.max(axis=0)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    logger.debug("built GL scene %r: %d triangles", scene.name, n_faces)
    return _GLScene(gl_scene, planes, corners)


def _decode_face(ids: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 id colours -> (H, W) int64 face index (-1 for background)."""
    ids = ids.astype(np.int64)
    return ids[..., 0] + (ids[..., 1] << 8) + (ids[..., 2] << 16) - 1


@register("pyrender")
class PyrenderRenderer(Renderer):
    """OpenGL rasteriser through pyrender; pinhole cameras only.

    Its OpenGL context is created on the first ``render`` in each process and cached per
    (width, height); a GL copy of each scene is cached per context while the Scene lives.
    A process that has rendered must not fork workers (they hang): render in the workers,
    or use the ``spawn`` start method.

    Args:
        znear_m: near clipping plane, metres; nearer surfaces are not drawn.
        exact_depth: depth from the seen triangle's plane (float64, default); False: from the
            24-bit depth buffer (error about ``z**2 * 6e-8 / znear_m``: 0.06 mm at 10 m,
            0.5 mm at 30 m for znear = 0.1 m).
    """

    def __init__(self, *, znear_m: float = 0.1, exact_depth: bool = True) -> None:
        if not znear_m > 0:
            raise ValueError(f"PyrenderRenderer.znear_m must be > 0, got {znear_m}")
        self.znear_m = float(znear_m)
        self.exact_depth = bool(exact_depth)

    def render(self, scene: Scene, camera: Camera, *, color: bool = True) -> RenderResult:
        """Render ``scene`` through a pinhole ``camera``; see ``Renderer.render``.

        Raises:
            RenderError: the camera has lens distortion or skew (pyrender draws pinhole only),
                or the scene has more than ``MAX_TRIANGLES`` triangles.
        """
        _check_pinhole(camera)
        pyrender = _import_pyrender()
        context = _context(pyrender, camera.width, camera.height)
        gl_scene = context.scenes.get(scene)
        if gl_scene is None:
            gl_scene = context.scenes[scene] = _build_gl_scene(pyrender, scene)
        node = gl_scene.scene.add(self._gl_camera(pyrender, camera, gl_scene), pose=_gl_pose(camera, gl_scene))
        try:
            flags = pyrender.RenderFlags.FLAT | pyrender.RenderFlags.SKIP_CULL_FACES
            ids, depth = context.offscreen.render(gl_scene.scene, flags)
        finally:
            gl_scene.scene.remove_node(node)
        return self._result(scene, camera, gl_scene.planes, _decode_face(ids).ravel(),
                            np.asarray(depth, dtype=np.float64).ravel(), color)

    def _gl_camera(self, pyrender, camera: Camera, gl_scene: _GLScene):
        """pyrender IntrinsicsCamera of ``camera``: pixel centres moved by half a pixel, far plane past the scene."""
        centre = camera.T_world_cam[:3, 3] - gl_scene.planes.origin
        zfar = float(np.linalg.norm(gl_scene.corners - centre, axis=1).max()) * 1.01 + 1.0
        return pyrender.IntrinsicsCamera(camera.fx, camera.fy, camera.cx + 0.5, camera.cy + 0.5,
                                         znear=self.znear_m, zfar=max(zfar, 2.0 * self.znear_m))

    def _result(self, scene: Scene, camera: Camera, planes: FacePlanes, face: np.ndarray, depth: np.ndarray,
                color: bool) -> RenderResult:
        """RenderResult from the face seen at each pixel and the z buffer (0 = no surface)."""
        h, w = camera.height, camera.width
        face = np.where((depth > 0) & (face < len(planes.faces)), face, -1)  # ids beyond F: blended (MSAA)
        rays = pixel_rays(camera)
        R, centre = camera.T_world_cam[:3, :3], camera.T_world_cam[:3, 3]
        # 1. Exact distance along each pixel ray to the plane of the triangle OpenGL saw there.
        with np.errstate(divide="ignore", invalid="ignore"):
            buffer_range = np.where(face >= 0, depth / rays[:, 2], np.inf)
        hits = hits_on_faces(planes, (centre - planes.origin)[None], rays, R, face, buffer_range)
        range_m = np.where(hits.hit, hits.t_m if self.exact_depth else buffer_range, np.nan)
        # 2. The same shading as the ray-cast renderer, at the exact hit points.
        rgb = np.zeros((h * w, 3), dtype=np.uint8)
        if color:
            rgb = shade_hits(scene, centre, np.einsum("ij,kj->ik", rays, R), hits)
        return RenderResult(rgb.reshape(h, w, 3), (range_m * rays[:, 2]).reshape(h, w).astype(np.float32),
                            range_m.reshape(h, w).astype(np.float32), hits.object_index.reshape(h, w))


def _check_pinhole(camera: Camera) -> None:
    if not camera.is_pinhole:
        raise RenderError(f"the pyrender backend draws pinhole cameras only, got model {camera.model!r} "
                          f"with distortion {camera.dist.tolist()}; use the 'raycast' renderer")
    if camera.K[0, 1] != 0:
        raise RenderError(f"the pyrender backend needs zero skew, got K[0, 1] = {camera.K[0, 1]}; "
                          f"use the 'raycast' renderer")


def _gl_pose(camera: Camera, gl_scene: _GLScene) -> np.ndarray:
    """(4, 4) pose of the OpenGL camera (looking down -z) in the shifted world."""
    pose = camera.T_world_cam @ T_CV_FROM_GL
    pose[:3, 3] -= gl_scene.planes.origin
    return pose


def _context(pyrender, width: int, height: int) -> _Context:
    """This process's OpenGL context of this size, created on first use."""
    key = (os.getpid(), width, height)
    if key not in _CONTEXTS:
        offscreen = pyrender.OffscreenRenderer(width, height)
        _single_sample(offscreen._renderer)
        _CONTEXTS[key] = _Context(offscreen, weakref.WeakKeyDictionary())
        logger.debug("created %s OpenGL context %dx%d", os.environ.get("PYOPENGL_PLATFORM"), width, height)
    return _CONTEXTS[key]
