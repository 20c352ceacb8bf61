"""Triangle meshes read from dataset files, and the scenes the pipeline ray-casts for labels.

Shared by the sources whose ground truth is a mesh (ScanNet++, the generic mesh source, BOP):
a source reads its mesh once per worker (:func:`load_mesh`), places it in the world frame, and
hands the pipeline a :class:`~datagen.render.scene.Scene` as ``Frame.mesh``; the pipeline casts
the rays of the normalised camera's pixel centres into it (``datagen.pipeline.mesh_view``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from datagen._optional import require
from datagen.errors import SourceError, raise_if_machine_fault
from datagen.render.scene import Scene, SceneObject
from datagen.sources._io import require_file

log = logging.getLogger(__name__)

#: What ``SceneObject.kind`` says of a mesh read from a dataset.
SCAN_KIND = "scan"


def load_mesh(path: Path, layout: str, metres_per_unit: float = 1.0):
    """A triangle mesh file (PLY, OBJ, GLB, ... anything trimesh reads) as one trimesh.Trimesh.

    A file holding a scene graph (GLB, multi-object OBJ) is flattened with its node transforms.
    Vertices are scaled to metres; faces are kept as stored (no merging or reordering), so their
    winding, which says which side of a scan is its surface, survives.

    Args:
        path: the mesh file.
        layout: what the source expected there, for error messages.
        metres_per_unit: length of one mesh unit in metres (0.001 for millimetres).

    Returns:
        trimesh.Trimesh with (V, 3) float64 vertices in metres and (F, 3) int64 faces.

    Raises:
        SourceError: the file is missing, cannot be parsed, or holds no triangle.
    """
    trimesh = require("trimesh", None)
    require_file(path, layout)
    try:
        loaded = trimesh.load(str(path), force="mesh", process=False)
    except OSError as exc:
        if isinstance(exc, (FileNotFoundError, IsADirectoryError)):
            raise SourceError(f"{path}: cannot be read as a mesh ({exc}) ({layout})") from None
        raise
    except Exception as exc:  # trimesh's parsers raise whatever their format's reader hits
        raise_if_machine_fault(exc)
        raise SourceError(f"{path}: not a readable triangle mesh ({type(exc).__name__}: {exc}) ({layout})") from None
    faces = np.asarray(getattr(loaded, "faces", np.zeros((0, 3))), dtype=np.int64)
    vertices = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), dtype=np.float64)
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise SourceError(f"{path}: holds no triangle faces (a point cloud, or an empty mesh) ({layout})")
    if not np.all(np.isfinite(vertices)) or faces.min() < 0 or faces.max() >= len(vertices):
        raise SourceError(f"{path}: vertices not finite or faces index past the {len(vertices)} vertices ({layout})")
    log.debug("read %s: %d vertices, %d triangles", path, len(vertices), len(faces))
    return trimesh.Trimesh(vertices * float(metres_per_unit), faces, process=False)


def placed_mesh(mesh, T_world_mesh: np.ndarray):
    """A copy of ``mesh`` with its vertices moved by the rigid ``T_world_mesh`` (4, 4), metres."""
    trimesh = require("trimesh", None)
    vertices = np.asarray(mesh.vertices, dtype=np.float64) @ T_world_mesh[:3, :3].T + T_world_mesh[:3, 3]
    return trimesh.Trimesh(vertices, np.asarray(mesh.faces), process=False)


def scan_scene(mesh, name: str, cull_back_faces: bool) -> Scene:
    """A one-object scene of a scanned mesh in the world frame.

    ``cull_back_faces``: a ray whose first hit meets a face from behind gives no label; right for
    a scan whose faces point towards where it was observed from, so that a hit from behind means
    the ray went through a hole in the surface.
    """
    return Scene(objects=(SceneObject(name=name, kind=SCAN_KIND, mesh=mesh),), name=name,
                 cull_back_faces=cull_back_faces)

