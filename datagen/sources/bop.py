"""BOP 6D object pose datasets (Hodan et al.): real images of objects with ground-truth poses.

Labels lie on the annotated objects only: each image's scene is the objects' models placed by
their ground-truth poses (``x_cam = R_m2c x_model + t_m2c``, millimetres, OpenCV camera axes;
``docs/bop_datasets_format.md`` of the bop_toolkit), and the pipeline casts the normalised
camera's rays into it; a ray that misses every object gives no label. The models occlude one
another as in the image; what else stands in front of an object (clutter without a model, a
hand) is handled by the frame's ``label_mask``:

* ``mask_visib`` (``<scene>/mask_visib/<image>_<instance>.png``, BOP's masks of the visible
  part of each annotated object, computed from the depth images): labels only on their union;
* without masks, ``gt_info``: the source renders the objects into the frame's own image and
  compares each object's visible pixel count with BOP's ``px_count_visib``. An object that BOP
  sees at least ``1 - GT_INFO_TOLERANCE`` as much of as the models say is unoccluded by
  anything else and keeps its visible pixels, shrunk by ``EDGE_MARGIN_PX`` (where BOP's
  depth-based visibility is least certain); an object hidden by something unmodelled is dropped
  whole, since the counts say how much of it is hidden but not where.

Frame ids: ``bop/<split folder>-<scene>/<image id, 6 digits>``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from datagen.errors import CameraError, ConfigError, GeometryError, SourceError
from datagen.geometry.se3 import as_transform, invert, make_transform
from datagen.render.raycast import cast_rays
from datagen.render.scene import Scene, SceneObject
from datagen.sources import register
from datagen.sources._cache import LruCache
from datagen.sources._io import image_size, read_image_array, read_json, require_dir
from datagen.sources._meshes import load_mesh, placed_mesh
from datagen.sources._tables import FrameTableBuilder, check_choice, check_name, check_root, names_option
from datagen.sources.base import FrameTable, Source
from datagen.types import Camera, Frame

log = logging.getLogger(__name__)

NAME = "bop"
#: BOP's models and translations are in millimetres.
METRES_PER_MM = 1e-3
DEFAULT_MODELS_DIR = "models"
IMAGE_DIRS = ("rgb", "gray")
IMAGE_SUFFIXES = (".png", ".jpg", ".tif")
#: Split folder prefixes (``train[_TYPE]``, ``val[_TYPE]``, ``test[_TYPE]``) and their split.
SPLIT_PREFIXES = {"train": "train", "val": "val", "test": "test"}
VISIBILITY = ("auto", "mask_visib", "gt_info", "none")
#: gt_info mode: an object keeps its labels when BOP's visible pixel count is at least this share
#: below the models' own (depth noise at its outline), no more.
GT_INFO_TOLERANCE = 0.05
EDGE_MARGIN_PX = 2
#: Largest |R R^T - I| of a stored rotation: LM-O's annotated rotations are orthonormal only to
#: about 1e-2 (0.0096 at most in test/000002); BOP's renderer uses them as stored, and so does this source.
ROTATION_TOLERANCE = 0.02
LAYOUT = ("BOP layout: models/obj_<id:06d>.ply (mm); <split>/<scene:06d>/scene_camera.json, scene_gt.json, "
          "scene_gt_info.json, rgb/<image:06d>.png, [mask_visib/<image:06d>_<instance:06d>.png]")
_SCENE = re.compile(r"^\d+$")


@dataclass(frozen=True, eq=False)
class _SceneFiles:
    """One BOP scene's annotation files, parsed: per image id (a string), its camera, poses and info."""

    folder: Path
    camera: dict
    gt: dict
    gt_info: dict


@register(NAME)
class BopSource(Source):
    """BOP scenes; one frame per annotated image, labels on the annotated objects."""

    @dataclass(frozen=True)
    class Config:
        """Options of the bop source.

        Attributes:
            root: a BOP dataset folder (``models/``, ``test/``, ...).
            models_dir: the folder of the models in ``root`` ("models", "models_eval", "models_cad", ...).
            split_dirs: which split folders to list (e.g. ["test"]); None: every train*/val*/test* folder.
            visibility: "auto" (mask_visib where the scene has it, else gt_info), "mask_visib",
                "gt_info" or "none" (every pixel of the modelled objects, occluded or not).
        """

        root: Path | None = None
        models_dir: str = DEFAULT_MODELS_DIR
        split_dirs: tuple | None = None
        visibility: str = "auto"

        def __post_init__(self) -> None:
            check_root(self, NAME, "a BOP dataset folder")
            check_choice(NAME, "visibility", self.visibility, VISIBILITY)
            if self.split_dirs is not None:
                dirs = names_option(NAME, "split_dirs", self.split_dirs, what="train*/val*/test* folder names")
                if any(_split_of(d) is None for d in dirs):
                    raise ConfigError(f"{NAME} source: split_dirs must name train*/val*/test* folders, "
                                      f"got {self.split_dirs!r}")
                object.__setattr__(self, "split_dirs", dirs)
            check_name(NAME, "models_dir", self.models_dir, "a folder name")

    def __init__(self, config: "BopSource.Config | None" = None) -> None:
        super().__init__(config)
        self._scenes: LruCache[_SceneFiles] = LruCache(2)
        self._models: dict = {}

    # --- the frames ----------------------------------------------------------------------

    def frame_table(self) -> FrameTable:
        table = FrameTableBuilder()
        for split_dir, scene in self._scene_dirs():
            image_ids = sorted(int(k) for k in self._scene(split_dir, scene.name).gt)
            sequence = f"{split_dir}-{scene.name}"
            table.add_ids([f"{NAME}/{sequence}/{i:06d}" for i in image_ids], sequence, _split_of(split_dir))
        return table.build()

    def load_frame(self, frame_id: str) -> Frame:
        split_dir, scene_name, image_id = self._parse(frame_id)
        files = self._scene(split_dir, scene_name)
        key = str(image_id)
        where = f"{files.folder}: image {image_id}"
        instances = files.gt.get(key)
        if not isinstance(instances, list) or key not in files.camera:
            raise SourceError(f"{where}: not in scene_gt.json and scene_camera.json ({LAYOUT})")
        image_path = _image_path(files.folder, image_id)
        camera, pose_known = _camera(files.camera[key], image_size(image_path, LAYOUT), f"{where} (scene_camera.json)")
        scene = Scene(objects=tuple(self._placed(inst, camera.T_world_cam, f"{where} (scene_gt.json) instance {k}")
                                    for k, inst in enumerate(instances)), name=f"{split_dir}-{scene_name}/{key}")
        mask, visibility = self._visibility(files, image_id, scene, camera)
        return Frame(frame_id=frame_id, source=NAME, camera=camera, image_path=image_path, mesh=scene,
                     sequence=f"{split_dir}-{scene_name}", split=_split_of(split_dir), label_mask=mask,
                     meta={"image_id": image_id, "objects": [int(i["obj_id"]) for i in instances],
                           "visibility": visibility, "depth_from": "mesh", "pose_known": pose_known})

    def _parse(self, frame_id: str) -> tuple[str, str, int]:
        parts = frame_id.split("/") if isinstance(frame_id, str) else []
        ok = len(parts) == 3 and parts[0] == NAME and "-" in parts[1] and parts[2].isdigit()
        split_dir, _, scene = parts[1].rpartition("-") if ok else ("", "", "")
        if not ok or _split_of(split_dir) is None or not _SCENE.match(scene):
            raise SourceError(f"bop: frame id {frame_id!r} is not '{NAME}/<split folder>-<scene>/<image id>'")
        return split_dir, scene, int(parts[2])

    # --- files -----------------------------------------------------------------------------

    def _scene_dirs(self) -> list[tuple[str, Path]]:
        root = require_dir(self.config.root, LAYOUT)
        names = self.config.split_dirs or sorted(p.name for p in root.iterdir() if p.is_dir() and _split_of(p.name))
        out = []
        for name in names:
            folder = require_dir(root / name, LAYOUT)
            out += [(name, p) for p in sorted(folder.iterdir()) if p.is_dir() and _SCENE.match(p.name)]
        if not out:
            searched = ", ".join(names) or "train*/val*/test* folders"
            raise SourceError(f"{root}: no scene folders in {searched} ({LAYOUT})")
        return out

    def _scene(self, split_dir: str, scene: str) -> _SceneFiles:
        def read() -> _SceneFiles:
            folder = self.config.root / split_dir / scene
            parts = [read_json(folder / f"{name}.json", LAYOUT) for name in ("scene_camera", "scene_gt")]
            info_path = folder / "scene_gt_info.json"
            info = read_json(info_path, LAYOUT) if info_path.is_file() else {}
            if not all(isinstance(p, dict) for p in (*parts, info)):
                raise SourceError(f"{folder}: scene_camera.json, scene_gt.json and scene_gt_info.json must map "
                                  f"image ids to entries ({LAYOUT})")
            return _SceneFiles(folder, parts[0], parts[1], info)

        return self._scenes.get((split_dir, scene), read)

    def _placed(self, instance: object, T_world_cam: np.ndarray, where: str) -> SceneObject:
        """An annotated instance's model in the world frame (metres)."""
        if not isinstance(instance, dict) or not isinstance(instance.get("obj_id"), int):
            raise SourceError(f"{where}: expected {{obj_id, cam_R_m2c, cam_t_m2c}} ({LAYOUT})")
        T_cam_model = _pose(instance.get("cam_R_m2c"), instance.get("cam_t_m2c"), where, "m2c")
        return SceneObject(name=f"obj_{instance['obj_id']:06d}", kind="object",
                           mesh=placed_mesh(self._model(instance["obj_id"]), T_world_cam @ T_cam_model))

    def _model(self, obj_id: int):
        if obj_id not in self._models:
            path = self.config.root / self.config.models_dir / f"obj_{obj_id:06d}.ply"
            self._models[obj_id] = load_mesh(path, LAYOUT, METRES_PER_MM)
        return self._models[obj_id]

    # --- visibility ------------------------------------------------------------------------

    def _visibility(self, files: _SceneFiles, image_id: int, scene: Scene, camera: Camera) -> tuple:
        """(label mask or None, the mode used)."""
        mode = self.config.visibility
        if mode == "auto":
            mode = "mask_visib" if (files.folder / "mask_visib").is_dir() else "gt_info"
        if mode == "none":
            return None, mode
        count = len(scene.objects)
        if mode == "mask_visib":
            return _union_of_masks(files.folder, image_id, count, camera), mode
        info = files.gt_info.get(str(image_id))
        if not isinstance(info, list) or len(info) != count:
            raise SourceError(f"{files.folder / 'scene_gt_info.json'}: image {image_id} needs {count} entries with "
                              f"px_count_visib (or give the scene's mask_visib/) ({LAYOUT})")
        return _unoccluded_objects(scene, camera, info, f"{files.folder}: image {image_id}"), mode


def _split_of(split_dir: str) -> str | None:
    return next((split for prefix, split in SPLIT_PREFIXES.items() if split_dir.startswith(prefix)), None)


def _image_path(folder: Path, image_id: int) -> Path:
    for sub in IMAGE_DIRS:
        for suffix in IMAGE_SUFFIXES:
            path = folder / sub / f"{image_id:06d}{suffix}"
            if path.is_file():
                return path
    raise SourceError(f"{folder / 'rgb'}: no image {image_id:06d}.png/.jpg ({LAYOUT})")


def _camera(entry: object, size: tuple[int, int], where: str) -> tuple[Camera, bool]:
    """The image's camera and whether its world pose is known (``cam_R_w2c``, ``cam_t_w2c``)."""
    if not isinstance(entry, dict):
        raise SourceError(f"{where}: expected {{cam_K, ...}} ({LAYOUT})")
    try:
        K = np.asarray(entry.get("cam_K"), dtype=np.float64).reshape(3, 3)
    except (TypeError, ValueError):
        raise SourceError(f"{where}: cam_K must be 9 numbers (3x3 row-wise), "
                          f"got {str(entry.get('cam_K'))[:80]}") from None
    pose_known = "cam_R_w2c" in entry and "cam_t_w2c" in entry
    T_world_cam = np.eye(4)
    if pose_known:
        # A camera pose must be rigid: the nearest rotation. The objects are placed through this same
        # pose, so their poses in the camera frame stay as annotated.
        T_cam_world = _pose(entry["cam_R_w2c"], entry["cam_t_w2c"], where, "w2c")
        T_world_cam = invert(make_transform(_nearest_rotation(T_cam_world[:3, :3]), T_cam_world[:3, 3]))
    try:
        return Camera(K=K, width=size[0], height=size[1], T_world_cam=T_world_cam), pose_known
    except CameraError as exc:
        raise SourceError(f"{where}: bad camera ({exc})") from None


def _pose(rotation: object, translation_mm: object, where: str, name: str) -> np.ndarray:
    """(4, 4) transform in metres from BOP's row-wise 3x3 rotation and millimetre translation.

    The rotation is used as stored, as BOP's own renderer does (an annotated rotation may be a
    little off orthonormal); anything farther than ``ROTATION_TOLERANCE`` from one is refused.
    """
    try:
        R = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
        t = np.asarray(translation_mm, dtype=np.float64).reshape(3) * METRES_PER_MM
        T = as_transform(make_transform(R, t), f"cam_R_{name}/cam_t_{name}", check_rigid=False)
    except (TypeError, ValueError, GeometryError) as exc:
        raise SourceError(f"{where}: cam_R_{name} must be 9 numbers and cam_t_{name} 3 numbers ({exc})") from None
    if np.abs(R @ R.T - np.eye(3)).max() > ROTATION_TOLERANCE or np.linalg.det(R) < 0:
        raise SourceError(f"{where}: cam_R_{name} is not a rotation (R R^T - I up to "
                          f"{np.abs(R @ R.T - np.eye(3)).max():.2g}, det {np.linalg.det(R):.4f})")
    return T


def _nearest_rotation(R: np.ndarray) -> np.ndarray:
    """The rotation closest to ``R`` (3, 3) in the Frobenius norm (its polar factor)."""
    u, _, vt = np.linalg.svd(R)
    return u @ vt


def _union_of_masks(folder: Path, image_id: int, count: int, camera: Camera) -> np.ndarray:
    mask = np.zeros((camera.height, camera.width), dtype=bool)
    for k in range(count):
        path = folder / "mask_visib" / f"{image_id:06d}_{k:06d}.png"
        visible = read_image_array(path, LAYOUT)
        if visible.shape[:2] != mask.shape:
            raise SourceError(f"{path}: mask is {visible.shape[1]}x{visible.shape[0]} px, the image "
                              f"{camera.width}x{camera.height}")
        mask |= (visible[..., 0] if visible.ndim == 3 else visible) > 0
    return mask


def _unoccluded_objects(scene: Scene, camera: Camera, info: list, where: str) -> np.ndarray:
    """(H, W) bool: the visible pixels, shrunk by ``EDGE_MARGIN_PX``, of the objects BOP sees as the models do."""
    owner = object_image(scene, camera)
    mask = np.zeros(owner.shape, dtype=bool)
    for k, entry in enumerate(info):
        visib = entry.get("px_count_visib") if isinstance(entry, dict) else None
        if isinstance(visib, bool) or not isinstance(visib, (int, float)):
            raise SourceError(f"{where}: scene_gt_info.json entry {k} has no px_count_visib ({LAYOUT})")
        region = owner == k
        modelled = int(region.sum())
        if modelled and visib >= (1.0 - GT_INFO_TOLERANCE) * modelled:
            mask |= ndimage.binary_erosion(region, iterations=EDGE_MARGIN_PX)
        elif modelled:
            log.debug("%s: object %d dropped: BOP sees %d of its %d modelled visible pixels", where, k, visib, modelled)
    return mask


def object_image(scene: Scene, camera: Camera) -> np.ndarray:
    """(H, W) int32: index of the object whose surface each pixel centre's ray meets first; -1 for none."""
    u, v = np.meshgrid(np.arange(camera.width, dtype=np.float64), np.arange(camera.height, dtype=np.float64))
    rays = camera.rays(np.column_stack([u.ravel(), v.ravel()]))
    hits = cast_rays(scene, camera.T_world_cam[:3, 3], rays @ camera.T_world_cam[:3, :3].T)
    return hits.object_index.reshape(camera.height, camera.width)
