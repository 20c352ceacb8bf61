"""Any triangle mesh with the posed images that see it: labels ray-cast from the mesh.

The mesh is any file trimesh reads (PLY, OBJ, GLB, ...); the images' cameras come from a
COLMAP model (text or binary), a nerfstudio ``transforms.json`` or a plain JSON list
(``datagen.sources._camera_files`` converts each file's conventions once). Every frame's
``Frame.mesh`` is the same scene, read once per worker; the pipeline labels each frame by
casting the rays of its normalised camera's pixel centres into it.

Frame ids: ``mesh/<sequence>/<index, 6 digits>``, the image's position in name order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import SourceError
from datagen.sources import register
from datagen.sources._camera_files import (
    PosedImage,
    read_camera_list,
    read_colmap_images,
    read_mask,
    read_nerfstudio,
    scaled,
)
from datagen.sources._io import read_json
from datagen.sources._meshes import load_mesh, scan_scene
from datagen.sources._tables import check_choice, check_flag, check_name, check_number, check_root, check_split
from datagen.sources.base import FrameTable, Source
from datagen.types import Frame

log = logging.getLogger(__name__)

NAME = "mesh"
CAMERA_FORMATS = ("auto", "colmap", "nerfstudio", "list")
MESH_SUFFIXES = (".ply", ".obj", ".glb", ".gltf", ".off", ".stl")
#: Camera files looked for in ``root`` when ``cameras`` is not given, in this order.
DEFAULT_CAMERA_FILES = ("transforms.json", "cameras.json", "sparse/0", "sparse", "colmap")
LAYOUT = ("mesh source: a mesh file (PLY, OBJ, GLB, ...) and a camera file (COLMAP model folder, nerfstudio "
          "transforms.json, or a JSON list of posed images)")


@register(NAME)
class MeshSource(Source):
    """One mesh and the posed images of it; one frame per image."""

    @dataclass(frozen=True)
    class Config:
        """Options of the mesh source (paths relative to ``root``).

        Attributes:
            root: the folder the other paths are relative to.
            mesh: the mesh file; None: the one mesh file in ``root``.
            cameras: a COLMAP model folder, a ``transforms.json`` or a JSON list; None: the first
                of ``DEFAULT_CAMERA_FILES`` found in ``root``.
            images: the image folder of a COLMAP model; None: ``images/`` beside the model's
                ``sparse/`` folder, else ``root/images``.
            camera_format: "auto" (a folder is COLMAP; a JSON object with "frames" is
                nerfstudio; a JSON list is the plain list), or one of those by name.
            metres_per_unit: length of one unit of the mesh and the camera translations, metres.
            cull_back_faces: no label where a ray first meets a face from behind (a scan with
                outward-facing faces: the ray went through a hole).
            sequence: the scene's name in frame ids; None: the mesh file's stem.
            split: the split of every frame; None: the build splits by sequence.
        """

        root: Path | None = None
        mesh: str | None = None
        cameras: str | None = None
        images: str | None = None
        camera_format: str = "auto"
        metres_per_unit: float = 1.0
        cull_back_faces: bool = False
        sequence: str | None = None
        split: str | None = None

        def __post_init__(self) -> None:
            check_root(self, NAME, "the folder of the mesh and its cameras")
            check_choice(NAME, "camera_format", self.camera_format, CAMERA_FORMATS)
            check_number(NAME, "metres_per_unit", self.metres_per_unit, 0.0)
            check_flag(NAME, "cull_back_faces", self.cull_back_faces)
            check_split(NAME, self.split)
            if self.sequence is not None:
                check_name(NAME, "sequence", self.sequence, "a non-empty name without '/'", slash=False)

    def __init__(self, config: "MeshSource.Config | None" = None) -> None:
        super().__init__(config)
        self._images: list[PosedImage] | None = None
        self._scene = None

    # --- the frames ----------------------------------------------------------------------

    def frame_table(self) -> FrameTable:
        images = self._posed_images()
        sequence = self._sequence()
        ids = [f"{NAME}/{sequence}/{index:06d}" for index in range(len(images))]
        split = None if self.config.split is None else np.full(len(ids), self.config.split, dtype=object)
        return FrameTable(np.array(ids, dtype=object), sequence=np.full(len(ids), sequence, dtype=object),
                          camera=np.array([image.camera_name for image in images], dtype=object), split=split)

    def load_frame(self, frame_id: str) -> Frame:
        image = self._posed_images()[self._parse(frame_id)]
        mask = None
        if image.mask_path is not None:
            mask = read_mask(image.mask_path, LAYOUT, (image.camera.width, image.camera.height))
        return Frame(frame_id=frame_id, source=NAME, camera=image.camera, image_path=image.image_path,
                     mesh=self.scene(), sequence=self._sequence(), split=self.config.split, label_mask=mask,
                     meta={"image": image.name, "camera": image.camera_name, "mesh": str(self._mesh_path()),
                           "cameras": str(self._camera_path()), "depth_from": "mesh", "pose_known": True})

    def scene(self):
        """The mesh as a scene in the world frame, metres; read once per source instance."""
        if self._scene is None:
            path = self._mesh_path()
            mesh = load_mesh(path, LAYOUT, float(self.config.metres_per_unit))
            self._scene = scan_scene(mesh, self._sequence(), self.config.cull_back_faces)
        return self._scene

    def _parse(self, frame_id: str) -> int:
        parts = frame_id.split("/") if isinstance(frame_id, str) else []
        count = len(self._posed_images())
        if len(parts) != 3 or parts[0] != NAME or parts[1] != self._sequence() or not parts[2].isdigit() \
                or int(parts[2]) >= count:
            raise SourceError(f"mesh: frame id {frame_id!r} is not '{NAME}/{self._sequence()}/<index below {count}>'")
        return int(parts[2])

    # --- files -----------------------------------------------------------------------------

    def _sequence(self) -> str:
        return self.config.sequence or self._mesh_path().stem

    def _mesh_path(self) -> Path:
        root = self.config.root
        if self.config.mesh is not None:
            return root / self.config.mesh
        found = sorted(p for p in root.iterdir() if p.suffix.lower() in MESH_SUFFIXES) if root.is_dir() else []
        if len(found) != 1:
            raise SourceError(f"{root}: {len(found)} mesh files ({', '.join(p.name for p in found[:4]) or 'none'}); "
                              f"name the mesh with -O mesh=FILE ({LAYOUT})")
        return found[0]

    def _camera_path(self) -> Path:
        root = self.config.root
        if self.config.cameras is not None:
            return root / self.config.cameras
        for name in DEFAULT_CAMERA_FILES:
            if (root / name).exists():
                return root / name
        raise SourceError(f"{root}: none of {', '.join(DEFAULT_CAMERA_FILES)}; name the camera file with "
                          f"-O cameras=PATH ({LAYOUT})")

    def _posed_images(self) -> list[PosedImage]:
        if self._images is None:
            path = self._camera_path()
            images = _read_cameras(path, self._format(path), self._colmap_images(path))
            if not images:
                raise SourceError(f"{path}: lists no image ({LAYOUT})")
            self._images = [scaled(image, float(self.config.metres_per_unit)) for image in images]
        return self._images

    def _format(self, path: Path) -> str:
        if self.config.camera_format != "auto":
            return self.config.camera_format
        if path.is_dir():
            return "colmap"
        return "nerfstudio" if isinstance(read_json(path, LAYOUT), dict) else "list"

    def _colmap_images(self, model_dir: Path) -> Path:
        """The image folder of a COLMAP model: the option, else ``images/`` of the project the model is in."""
        if self.config.images is not None:
            return self.config.root / self.config.images
        for project in (model_dir.parent, model_dir.parent.parent):  # project/sparse[/0] -> project/images
            if (project / "images").is_dir():
                return project / "images"
        return self.config.root / "images"

def _read_cameras(path: Path, camera_format: str, colmap_images: Path) -> list[PosedImage]:
    if camera_format == "colmap":
        return read_colmap_images(path, colmap_images)
    if camera_format == "nerfstudio":
        return read_nerfstudio(path)
    return read_camera_list(path)
