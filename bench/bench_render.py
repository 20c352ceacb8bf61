"""Benchmark: rendering speed of the ray-cast (Open3D / Embree) and pyrender (OpenGL) backends.

Run from the repository root, by hand:

    python bench/bench_render.py [--frames 10] [--nthreads 1] [--no-pyrender]

Three measurements, on one core by default (``--nthreads 1``: Embree's ``cast_rays`` threads;
``LP_NUM_THREADS=1``: Mesa's llvmpipe rasteriser; numpy and numba are single-threaded here):

1. ``raycast`` colour + depth of a 640x480 frame of a street-like scene built here: a
   ground plane and 40 seeded primitives (boxes, icospheres, cylinders; every pattern),
   about 19,000 triangles, each frame from a slightly different camera pose.
2. ``raycast`` depth alone of a 1920x1080 frame of a 100,000-triangle scene (20
   icospheres of 5,120 triangles and a ground plane).
3. ``pyrender`` (OSMesa unless PYOPENGL_PLATFORM says otherwise) colour + depth of the
   frame of 1, and depth of the frame of 2; the first frame (context, upload) is timed apart.

Frames per second are the median over ``--frames`` frames after one warm-up frame.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy loads its BLAS: one core
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("LP_NUM_THREADS", "1")  # Mesa's llvmpipe rasteriser (OSMesa/EGL on CPU)

import numpy as np  # noqa: E402
import trimesh  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datagen.render.base import get_renderer  # noqa: E402
from datagen.render.scene import PATTERNS, Material, Scene, SceneObject  # noqa: E402
from datagen.types import Camera  # noqa: E402

#: Camera axes (x right, y down, z forward) in a z-up world looking along +y.
R_WORLD_CAM = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def _ground(size_m: float) -> trimesh.Trimesh:
    h = size_m / 2
    return trimesh.Trimesh([[-h, -h, 0], [h, -h, 0], [h, h, 0], [-h, h, 0]], [[0, 1, 2], [0, 2, 3]])


def _primitive(kind: int, rng: np.random.Generator) -> trimesh.Trimesh:
    if kind == 0:
        mesh = trimesh.creation.box(extents=rng.uniform(0.5, 4.0, 3))
    elif kind == 1:
        mesh = trimesh.creation.icosphere(subdivisions=3, radius=rng.uniform(0.3, 1.5))
    else:
        mesh = trimesh.creation.cylinder(radius=rng.uniform(0.1, 0.6), height=rng.uniform(1.0, 6.0), sections=48)
    mesh.apply_translation([rng.uniform(-15, 15), rng.uniform(2, 60), -mesh.bounds[0, 2]])
    return mesh


def street_scene(n_objects: int = 40, seed: int = 0) -> Scene:
    """A ground plane and ``n_objects`` seeded primitives, each with a random pattern."""
    rng = np.random.default_rng(seed)
    objects = [SceneObject("ground", "plane", _ground(400.0), Material(pattern="checker", scale_m=2.0))]
    for i in range(n_objects):
        material = Material(color_rgb=tuple(rng.uniform(0.2, 0.9, 3)), pattern=PATTERNS[i % len(PATTERNS)],
                            pattern_rgb=tuple(rng.uniform(0.1, 0.6, 3)), scale_m=float(rng.uniform(0.2, 1.0)),
                            seed=i)
        objects.append(SceneObject(f"object{i}", "primitive", _primitive(i % 3, rng), material))
    return Scene(objects=tuple(objects), name="bench-street")


def sphere_scene(n_spheres: int = 20, seed: int = 0) -> Scene:
    """A ground plane and ``n_spheres`` icospheres of 5,120 triangles each."""
    rng = np.random.default_rng(seed)
    objects = [SceneObject("ground", "plane", _ground(400.0))]
    for i in range(n_spheres):
        mesh = trimesh.creation.icosphere(subdivisions=4, radius=rng.uniform(0.5, 2.5))
        mesh.apply_translation([rng.uniform(-20, 20), rng.uniform(5, 60), rng.uniform(0.5, 5.0)])
        objects.append(SceneObject(f"sphere{i}", "sphere", mesh))
    return Scene(objects=tuple(objects), name="bench-spheres")


def camera(width: int, height: int, frame: int) -> Camera:
    """A car-mounted camera 1.6 m up, moving forward 0.5 m a frame, off-centre principal point."""
    T = np.eye(4)
    T[:3, :3] = R_WORLD_CAM
    T[:3, 3] = [0.3 * np.sin(frame), -5.0 + 0.5 * frame, 1.6]
    f = 0.8 * width
    return Camera.from_intrinsics(f, 1.02 * f, 0.52 * width, 0.47 * height, width, height, T_world_cam=T)


def _time_frames(renderer, scene: Scene, width: int, height: int, frames: int, color: bool) -> list[float]:
    renderer.render(scene, camera(width, height, 0), color=color)  # warm-up: Embree/GL scene, caches
    seconds = []
    for frame in range(1, frames + 1):
        start = time.perf_counter()
        renderer.render(scene, camera(width, height, frame), color=color)
        seconds.append(time.perf_counter() - start)
    return seconds


def _report(label: str, scene: Scene, seconds: list[float]) -> None:
    triangles = sum(len(o.mesh.faces) for o in scene.objects)
    median = float(np.median(seconds))
    print(f"{label:48s} {triangles:7d} triangles  median {median * 1e3:7.1f} ms  "
          f"min {min(seconds) * 1e3:7.1f} ms  {1.0 / median:6.1f} fps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--nthreads", type=int, default=1, help="Embree threads (0 = all cores)")
    parser.add_argument("--no-pyrender", action="store_true", help="skip the OpenGL backend")
    args = parser.parse_args()
    street, spheres = street_scene(), sphere_scene()
    raycast = get_renderer("raycast", nthreads=args.nthreads)
    _report("raycast colour+depth 640x480", street, _time_frames(raycast, street, 640, 480, args.frames, True))
    _report("raycast depth 640x480", street, _time_frames(raycast, street, 640, 480, args.frames, False))
    _report("raycast depth 1920x1080", spheres, _time_frames(raycast, spheres, 1920, 1080, args.frames, False))
    if not args.no_pyrender:
        pyrender = get_renderer("pyrender")
        start = time.perf_counter()
        pyrender.render(street, camera(640, 480, 0))
        print(f"pyrender first frame 640x480 (context, upload)     {time.perf_counter() - start:.2f} s")
        _report("pyrender colour+depth 640x480", street, _time_frames(pyrender, street, 640, 480, args.frames, True))
        _report("pyrender depth 640x480", street, _time_frames(pyrender, street, 640, 480, args.frames, False))
        _report("pyrender depth 1920x1080", spheres, _time_frames(pyrender, spheres, 1920, 1080, args.frames, False))


if __name__ == "__main__":
    main()
