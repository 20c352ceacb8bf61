"""Meshes of known geometry, posed cameras written in each camera file format, and an independent ray caster.

Shared by the tests of the mesh sources (mesh, scannetpp, bop): a scene is written to disk as the
datasets do, built by the pipeline, and every label is checked against ``first_hit``, a
ray-triangle intersection written here in numpy, not the renderer's Embree path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image
from scipy.spatial.transform import Rotation

from tests.sources.colmap_files import write_binary_model, write_text_model

#: OpenCV camera axes <-> nerfstudio's OpenGL ones (x right, y up, z backward), written out here.
FLIP_YZ = np.diag([1.0, -1.0, -1.0, 1.0])
#: Rotations whose quaternions hold only 0, 0.5 and 1, so that every camera file stores them exactly
#: (axis-cycling turns about the cube's diagonals, and half turns).
EXACT_QUATERNIONS_WXYZ = [(1.0, 0.0, 0.0, 0.0), (0.5, 0.5, 0.5, 0.5), (0.5, -0.5, -0.5, -0.5),
                          (0.0, 1.0, 0.0, 0.0), (0.5, 0.5, -0.5, 0.5)]


def grid_wall(corner, edge_u, edge_v, cells: int, skip=()) -> tuple[np.ndarray, np.ndarray]:
    """A planar quad split into ``cells`` x ``cells`` squares of two triangles; squares in ``skip``
    ((i, j) pairs) are left out as holes. Faces wind so that normals point along edge_u x edge_v.

    Returns:
        (V, 3) float64 vertices and (F, 3) int64 faces.
    """
    corner, edge_u, edge_v = (np.asarray(a, dtype=np.float64) for a in (corner, edge_u, edge_v))
    steps = np.linspace(0.0, 1.0, cells + 1)
    vertices = np.array([corner + a * edge_u + b * edge_v for b in steps for a in steps])
    faces = []
    for j in range(cells):
        for i in range(cells):
            if (i, j) in skip:
                continue
            v0 = j * (cells + 1) + i
            v1, v2, v3 = v0 + 1, v0 + cells + 2, v0 + cells + 1
            faces += [[v0, v1, v2], [v0, v2, v3]]
    return vertices, np.array(faces, dtype=np.int64).reshape(-1, 3)


def room(half_m=3.0, cells: int = 4, holes: dict | None = None, inward: bool = True):
    """An axis-aligned box of walls around the origin (half sizes ``half_m``: one number or x, y, z);
    faces point inside (``inward``) or out.

    ``holes``: {wall index 0-5: [(i, j), ...]} squares to leave out. Walls: -x, +x, -y, +y, -z, +z.
    """
    hx, hy, hz = np.broadcast_to(np.asarray(half_m, dtype=np.float64), 3)
    low = [-hx, -hy, -hz]
    walls = [(low, [0, 0, 2 * hz], [0, 2 * hy, 0]), ([hx, -hy, -hz], [0, 2 * hy, 0], [0, 0, 2 * hz]),
             (low, [2 * hx, 0, 0], [0, 0, 2 * hz]), ([-hx, hy, -hz], [0, 0, 2 * hz], [2 * hx, 0, 0]),
             (low, [0, 2 * hy, 0], [2 * hx, 0, 0]), ([-hx, -hy, hz], [2 * hx, 0, 0], [0, 2 * hy, 0])]
    parts = []
    for index, (corner, u, v) in enumerate(walls):
        towards_centre = np.dot(np.cross(u, v), -np.asarray(corner, dtype=float) - (np.add(u, v) / 2)) > 0
        if towards_centre != inward:
            u, v = v, u
        parts.append(grid_wall(corner, u, v, cells, (holes or {}).get(index, ())))
    return merge(parts)


def box_distance(origin: np.ndarray, direction: np.ndarray, half_m) -> float:
    """Analytic distance from a point inside an axis-aligned box (half sizes ``half_m``) to its wall along
    a unit direction: the nearest of the three walls the direction heads for."""
    half = np.broadcast_to(np.asarray(half_m, dtype=np.float64), 3)
    with np.errstate(divide="ignore"):
        t = (np.sign(direction) * half - origin) / direction
    return float(np.min(t[direction != 0]))


def merge(parts) -> tuple[np.ndarray, np.ndarray]:
    vertices, faces, offset = [], [], 0
    for v, f in parts:
        vertices.append(v)
        faces.append(f + offset)
        offset += len(v)
    return np.concatenate(vertices), np.concatenate(faces)


def write_mesh(path: Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write a mesh (PLY, OBJ, GLB by suffix) with trimesh, faces as given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.Trimesh(vertices, faces, process=False).export(path)
    return path


def first_hit(origin: np.ndarray, direction: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> tuple:
    """The nearest triangle along a ray, by plane intersection and an inside test on the three edges.

    Each triangle's plane n . x = n . a (n = (b - a) x (c - a), the winding's normal) is met at
    t = n . (a - o) / (n . d); the point is inside when it lies on the inner side of every edge.

    Returns:
        (distance, face index, unit face normal) of the nearest hit, or (inf, -1, None).
    """
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    normal = np.cross(b - a, c - a)
    facing = normal @ direction
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.einsum("ij,ij->i", normal, a - origin) / facing
        point = origin + t[:, None] * direction
        area2 = np.einsum("ij,ij->i", normal, normal)
        inside = np.ones(len(faces), dtype=bool)
        for start, end in ((a, b), (b, c), (c, a)):  # the barycentric weight of the opposite vertex
            inside &= np.einsum("ij,ij->i", np.cross(end - start, point - start), normal) / area2 >= -1e-9
    hit = inside & (np.abs(facing) > 1e-12 * np.sqrt(area2)) & (t > 1e-9)
    if not hit.any():
        return np.inf, -1, None
    face = int(np.flatnonzero(hit)[np.argmin(t[hit])])
    return float(t[face]), face, normal[face] / np.linalg.norm(normal[face])


def label_rays(record: dict, T_world_cam: np.ndarray):
    """(camera centre, unit world direction, camera-frame unit ray) of each label pixel of a record, from the
    record's pinhole [fx, fy, cx, cy, w, h] alone."""
    fx, fy, cx, cy = record["camera"][:4]
    for u, v in record["label"]["pixels"]:
        ray = np.array([(u - cx) / fx, (v - cy) / fy, 1.0])
        ray /= np.linalg.norm(ray)
        yield T_world_cam[:3, 3], T_world_cam[:3, :3] @ ray, ray


def exact_pose(quaternion_wxyz, centre) -> np.ndarray:
    """T_world_cam of a camera at ``centre`` whose world-to-camera rotation is the quaternion."""
    R_cam_world = Rotation.from_quat(np.roll(quaternion_wxyz, -1)).as_matrix()
    T = np.eye(4)
    T[:3, :3] = R_cam_world.T
    T[:3, 3] = centre
    return T


def write_image(path: Path, width: int, height: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)).save(path)
    return path


# --- camera files -----------------------------------------------------------------------------
# ``cameras`` below: a list of (image name, model, width, height, [fx, fy, cx, cy], coefficients,
# T_world_cam), intrinsics in OpenCV's convention (pixel centres at integers), pose camera-to-world.

COLMAP_MODEL_NAMES = {"pinhole": "PINHOLE", "radtan": "OPENCV", "fisheye": "OPENCV_FISHEYE"}


def colmap_params(model: str, intrinsics, coeffs) -> list:
    fx, fy, cx, cy = intrinsics
    extra = list(coeffs)[:4] if model == "radtan" else list(coeffs)
    return [fx, fy, cx + 0.5, cy + 0.5, *extra]


def write_colmap(folder: Path, cameras: list, binary: bool = False) -> Path:
    """A COLMAP model: one camera per image; poses as world-to-camera quaternion (wxyz) and translation."""
    model_cameras, images = {}, []
    for index, (name, model, width, height, intrinsics, coeffs, T_world_cam) in enumerate(cameras, 1):
        model_cameras[index] = (COLMAP_MODEL_NAMES[model], width, height, colmap_params(model, intrinsics, coeffs))
        R_cam_world = T_world_cam[:3, :3].T
        q = Rotation.from_matrix(R_cam_world).as_quat()  # x y z w
        t = -R_cam_world @ T_world_cam[:3, 3]
        images.append((index, [q[3], q[0], q[1], q[2]], list(t), index, name))
    return (write_binary_model if binary else write_text_model)(folder, model_cameras, images)


NS_MODEL_NAMES = {"pinhole": "PINHOLE", "radtan": "OPENCV", "fisheye": "OPENCV_FISHEYE"}
NS_COEFFS = {"pinhole": (), "radtan": ("k1", "k2", "p1", "p2", "k3"), "fisheye": ("k1", "k2", "k3", "k4")}


def write_nerfstudio(path: Path, cameras: list, applied_transform: np.ndarray | None = None,
                     image_prefix: str = "images/") -> Path:
    """A transforms.json with per-frame intrinsics; poses camera-to-world in OpenGL axes, in the saved world
    ``applied_transform @ original`` when given (recorded as ns-process-data does)."""
    frames = []
    A = np.eye(4) if applied_transform is None else applied_transform
    for name, model, width, height, (fx, fy, cx, cy), coeffs, T_world_cam in cameras:
        frame = {"file_path": image_prefix + name, "fl_x": fx, "fl_y": fy, "cx": cx + 0.5, "cy": cy + 0.5,
                 "w": width, "h": height, "transform_matrix": (A @ T_world_cam @ FLIP_YZ).tolist()}
        frame.update(dict(zip(NS_COEFFS[model], coeffs)))
        frames.append(frame)
    models = {NS_MODEL_NAMES[c[1]] for c in cameras}
    assert len(models) == 1, "nerfstudio has one camera_model per file"
    meta = {"camera_model": models.pop(), "frames": frames}
    if applied_transform is not None:
        meta["applied_transform"] = applied_transform[:3].tolist()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(meta, indent=1))
    return path


def write_plain_list(path: Path, cameras: list, image_prefix: str = "images/") -> Path:
    entries = [{"image": image_prefix + name, "K": [[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]],
                "size": [width, height], "model": model, "distortion": list(coeffs),
                "T_world_cam": T_world_cam.tolist()}
               for name, model, width, height, (fx, fy, cx, cy), coeffs, T_world_cam in cameras]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=1))
    return path
