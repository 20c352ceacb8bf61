"""Labelled frames per second of the mesh source on a 1M-triangle scan, next to the synthetic scenes.

Run by hand: ``python bench/bench_sources_mesh.py [--repeat 3] [--frames 4]``. One process pinned
to one core (Embree, numba and BLAS limited to one thread). The scan is a room of walls cut into
a fine grid with a sphere in it (about 1.0 million triangles), seen by 1280x960 cameras with a
1000 px focal length, the unified focal length of a build, so normalisation does not resize.
Each frame is timed through two stages, best of ``--repeat`` passes:

* labels: load the frame (its scene is cached by the source), plan its normalisation, map the
  image, and ray-cast the normalised camera's pixel centres on the build's label stride
  (``mesh_label_stride_px``, every 2nd pixel in u and v by default);
* frame: a whole build of the frames by the build's own shard worker (the labels, then sampling,
  markers, JPEG encoding and writing of every record).

The one-off cost of reading the mesh and building its Embree scene is timed apart. The synthetic
source's scenes go through the same two stages (its frames also render their colour image).
Ratios within one run are what to compare; the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import os

for _name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import trimesh  # noqa: E402
from PIL import Image  # noqa: E402

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
from datagen.config import BuildConfig  # noqa: E402
from datagen.pipeline import make_source  # noqa: E402
from datagen.render import raycast  # noqa: E402
from source_steps import labelled_frame, shard_seconds  # noqa: E402

WIDTH, HEIGHT, FOCAL = 1280, 960, 1000.0
TASKS = ("distance", "axis_distance", "two_point")


def scan_mesh(cells: int = 250, sphere_subdivisions: int = 7) -> trimesh.Trimesh:
    """Walls of a 8 x 6 x 3 m room, each a cells x cells grid of quads (inward faces), and a 0.8 m sphere."""
    parts = []
    half = np.array([4.0, 3.0, 1.5])
    for axis in range(3):
        for sign in (-1.0, 1.0):
            u, v = [a for a in range(3) if a != axis]
            grid = np.linspace(-1.0, 1.0, cells + 1)
            a, b = np.meshgrid(grid * half[u], grid * half[v])
            vertices = np.zeros((a.size, 3))
            vertices[:, axis], vertices[:, u], vertices[:, v] = sign * half[axis], a.ravel(), b.ravel()
            i, j = np.meshgrid(np.arange(cells), np.arange(cells))
            v0 = (j * (cells + 1) + i).ravel()
            faces = np.concatenate([np.column_stack([v0, v0 + 1, v0 + cells + 2]),
                                    np.column_stack([v0, v0 + cells + 2, v0 + cells + 1])])
            wall = trimesh.Trimesh(vertices, faces, process=False)
            if np.dot(wall.face_normals[0], -vertices[faces[0, 0]]) < 0:
                wall.invert()
            parts.append(wall)
    sphere = trimesh.creation.icosphere(subdivisions=sphere_subdivisions, radius=0.8)
    sphere.apply_translation([1.5, 0.5, 0.0])
    return trimesh.util.concatenate(parts + [sphere])


def write_scene(folder: Path, frames: int) -> dict:
    """The scan as PLY, ``frames`` cameras turning about the room's vertical axis, images, a camera list."""
    mesh = scan_mesh()
    mesh.export(folder / "scan.ply")
    rng = np.random.default_rng(0)
    (folder / "images").mkdir()
    entries = []
    for k in range(frames):
        yaw = 2 * np.pi * k / frames
        turn = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
        looking_along_x = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # columns: x, y, z
        T = np.eye(4)
        T[:3, :3] = turn @ looking_along_x  # camera z forward, y down (world z is up)
        T[:3, 3] = [-0.5, -0.3, 0.1]
        name = f"images/{k:04d}.jpg"
        Image.fromarray(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(folder / name, quality=90)
        entries.append({"image": name, "K": [[FOCAL, 0, (WIDTH - 1) / 2], [0, FOCAL, (HEIGHT - 1) / 2], [0, 0, 1]],
                        "size": [WIDTH, HEIGHT], "model": "pinhole", "distortion": [], "T_world_cam": T.tolist()})
    (folder / "cameras.json").write_text(json.dumps(entries))
    return {"triangles": len(mesh.faces)}


def label_seconds(config: BuildConfig, source, frame_id: str) -> tuple[float, int]:
    started = time.perf_counter()
    _, view = labelled_frame(source, config, frame_id)
    return time.perf_counter() - started, len(view)


def measure(config: BuildConfig, repeat: int) -> dict:
    source = make_source(config)
    ids = source.frame_ids()[: config.frames or None]
    started = time.perf_counter()
    _, count = label_seconds(config, source, ids[0])  # reads the mesh, builds the Embree scene, numba caches
    first = time.perf_counter() - started
    labels = min(sum(label_seconds(config, source, i)[0] for i in ids) for _ in range(repeat)) / len(ids)
    whole = shard_seconds(config, ids, repeat, source)  # the scene already built: a worker reads it once
    return {"first": first, "labels": labels, "frame": whole, "frames": len(ids), "count": count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--frames", type=int, default=4)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    raycast.DEFAULT_THREADS[0] = 1
    with tempfile.TemporaryDirectory() as folder:
        facts = write_scene(Path(folder), args.frames)
        configs = {"synthetic": BuildConfig(source="synthetic", frames=args.frames, tasks=TASKS),
                   "mesh (1M tri)": BuildConfig(source="mesh", root=folder, frames=args.frames, tasks=TASKS,
                                                source_options={"cull_back_faces": True})}
        results = {label: measure(config, args.repeat) for label, config in configs.items()}
    base = results["synthetic"]
    print(f"scan: {facts['triangles']:,} triangles; cameras {WIDTH}x{HEIGHT}, f = {FOCAL:.0f} px; "
          f"label stride {configs['synthetic'].mesh_label_stride_px} px; one core")
    print(f"{'source':<15}{'first s':>9}{'labels/frame':>14}{'labels fps':>12}{'x synthetic':>13}"
          f"{'frame fps':>11}{'x synthetic':>13}")
    for label, r in results.items():
        print(f"{label:<15}{r['first']:>9.2f}{r['count']:>14,}{1 / r['labels']:>12.2f}"
              f"{base['labels'] / r['labels']:>13.2f}{1 / r['frame']:>11.2f}{base['frame'] / r['frame']:>13.2f}")


if __name__ == "__main__":
    main()
