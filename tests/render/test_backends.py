"""The pyrender (OpenGL) backend against the ray-cast one: same depth, same objects, same colour.

These run headless on OSMesa (apt libosmesa6), as in CI. One test repeats the check in a
subprocess on EGL (Mesa's software device, or a GPU), where pyrender's multisampled
framebuffer is in play; it is skipped only when no EGL device can be opened, and says why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from datagen.render.base import RenderError, get_renderer
from datagen.render.pyrender_backend import PyrenderRenderer
from datagen.render.raycast import RaycastRenderer
from datagen.render.scene import Scene, SceneObject
from tests.render.conftest import level_camera, posed_box, street_scene, z_plane

ROOT = Path(__file__).resolve().parents[2]


def _compare(raycast, opengl) -> dict:
    """Depth and object agreement of two renders of the same view."""
    both = raycast.hit & opengl.hit
    same = both & (raycast.object_index == opengl.object_index)
    # Pixels whose object differs may only sit on a silhouette of the ray-cast image.
    index = raycast.object_index
    edge = ndimage.maximum_filter(index, size=3) != ndimage.minimum_filter(index, size=3)
    differs = raycast.object_index != opengl.object_index
    return {
        "hit": int(both.sum()),
        "differs": int(differs.sum()),
        "differs_off_edge": int((differs & ~edge).sum()),
        "z_err": float(np.abs(raycast.z_m.astype(np.float64) - opengl.z_m)[same].max()),
        "range_err": float(np.abs(raycast.range_m.astype(np.float64) - opengl.range_m)[same].max()),
    }


def test_backends_agree_on_depth_to_a_millimetre_at_every_pixel_both_hit():
    scene = street_scene()
    camera = level_camera(pitch_rad=0.2)  # 320x240, fx 300 != fy 280, principal point (170.3, 110.8)
    raycast = RaycastRenderer().render(scene, camera)
    for exact in (True, False):
        opengl = PyrenderRenderer(exact_depth=exact).render(scene, camera)
        stats = _compare(raycast, opengl)
        assert stats["hit"] > 0.75 * camera.width * camera.height
        assert stats["differs"] <= 10 and stats["differs_off_edge"] == 0, stats
        # OpenGL's own 24-bit depth buffer (surfaces up to 20 m): within a millimetre; the
        # seen triangle's plane: float32 rounding (neighbouring sphere facets at an edge).
        assert stats["z_err"] < (1e-5 if exact else 1e-3) and stats["range_err"] < (1e-5 if exact else 1e-3), stats


def test_backends_agree_from_a_tilted_camera_far_from_the_origin():
    shift = np.array([2500.0, -1200.0, 30.0])
    box, _ = posed_box((1.0, 1.5, 2.0), 0.4, shift + [0.8, 4.0, 1.0])
    ground = z_plane(shift[2], 15.0, centre=shift[:2])
    scene = Scene(objects=(SceneObject("ground", "plane", ground), SceneObject("box", "box", box)))
    camera = level_camera(width=200, height=150, fx=180.0, fy=170.0, cx=90.2, cy=80.9,
                          position=shift + [0.1, -1.0, 2.0], pitch_rad=0.3)
    raycast = RaycastRenderer().render(scene, camera)
    for exact in (True, False):
        stats = _compare(raycast, PyrenderRenderer(exact_depth=exact).render(scene, camera, color=False))
        assert stats["z_err"] < 1e-3 and stats["differs"] <= 10 and stats["differs_off_edge"] == 0, stats


def test_pyrender_colour_equals_the_raycast_colour_where_both_see_the_same_object():
    scene, camera = street_scene(), level_camera()
    raycast = RaycastRenderer().render(scene, camera)
    opengl = get_renderer("pyrender").render(scene, camera)
    same = raycast.object_index == opengl.object_index
    assert same.mean() > 0.999
    # Shading is shared; only pixels on an edge between two facets can see another facet.
    assert (opengl.color != raycast.color).any(axis=-1)[same].sum() <= 10
    assert (opengl.color[~raycast.hit & same] == raycast.color[~raycast.hit & same]).all()  # the sky


def test_depth_only_render_has_the_same_depth():
    scene, camera = street_scene(), level_camera(width=96, height=72, fx=90, fy=85, cx=50.1, cy=33.3)
    renderer = PyrenderRenderer()
    full, depth_only = renderer.render(scene, camera), renderer.render(scene, camera, color=False)
    assert not depth_only.color.any() and full.color.any()
    np.testing.assert_array_equal(full.z_m, depth_only.z_m)


def test_pyrender_refuses_a_distorted_camera():
    with pytest.raises(RenderError, match="pinhole cameras only"):
        PyrenderRenderer().render(street_scene(1), level_camera(width=32, height=24, model="radtan",
                                                                  dist=[-0.2, 0.05, 0.0, 0.0]))


def test_pyrender_refuses_a_skewed_camera():
    camera = level_camera(width=32, height=24)
    K = camera.K.copy()
    K[0, 1] = 0.5
    with pytest.raises(RenderError, match="skew"):
        PyrenderRenderer().render(street_scene(1), camera.replace(K=K))


_EGL_SCRIPT = """
import json, sys
from tests.render.test_backends import _compare
from tests.render.conftest import level_camera, street_scene
from datagen.render.pyrender_backend import PyrenderRenderer
from datagen.render.raycast import RaycastRenderer
scene, camera = street_scene(), level_camera(pitch_rad=0.2)
try:
    opengl = PyrenderRenderer(exact_depth=False).render(scene, camera)
except Exception as exc:
    print(json.dumps({"skip": f"{type(exc).__name__}: {exc}"}))
    sys.exit(0)
print(json.dumps(_compare(RaycastRenderer().render(scene, camera), opengl)))
"""


def test_egl_backend_agrees_and_is_single_sampled():
    # Under EGL pyrender draws into a 4x multisampled framebuffer; resolved, it blends the
    # triangle ids of edge pixels (about 200 wrong pixels here) unless made single-sampled.
    env = dict(os.environ, PYOPENGL_PLATFORM="egl")
    done = subprocess.run([sys.executable, "-c", _EGL_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    if "skip" in stats:
        pytest.skip(f"no EGL device here: {stats['skip']}")
    assert stats["z_err"] < 1e-3 and stats["differs"] <= 10 and stats["differs_off_edge"] == 0, stats


def test_renderers_load_no_heavy_library_until_they_render():
    code = ("import sys; from datagen.render.base import get_renderer; get_renderer('pyrender'); get_renderer(); "
            "print(sorted(m for m in ('OpenGL', 'pyrender', 'open3d') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"
