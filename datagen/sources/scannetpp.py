"""ScanNet++ (Yeshwanth et al., ICCV 2023): laser-scanned indoor scenes, DSLR and iPhone images.

Labels are ray-cast from the scan's mesh (``scans/mesh_aligned_0.05.ply``) into each image's
normalised camera, so the fisheye DSLR images are labelled exactly, and the first surface
along each pixel's ray is its label. The cameras are the COLMAP models of each device
(``dslr/colmap``, ``iphone/colmap``), the ones ScanNet++'s own depth renderer uses
(``common/render.py`` of the toolkit: ``read_model(scene.dslr_colmap_dir)`` then
``renderAll(image.world_to_camera)``): the DSLR's OPENCV_FISHEYE model at the resolution of
``dslr/resized_images``, and the iPhone's model of ``iphone/rgb`` (frames extracted from the
video by the toolkit's ``iphone/prepare_iphone_data.py``). The poses are in the mesh's frame,
metres.

Holes: the mesh's faces point towards where the scanner saw them from, so a ray that first
meets a face from behind went through a hole (``Scene.cull_back_faces``) and gives no label.
For iPhone frames the iPhone's own depth (``iphone/depth/<frame>.png``, 256x192 millimetres,
extracted by the same script) is a second check: where the mesh's hit is farther than
``HOLE_DEPTH_RATIO`` times the iPhone's depth plus ``HOLE_DEPTH_MARGIN_M``, the ray passed
through a hole the iPhone saw something in, and the frame's ``label_mask`` drops that pixel.
The anonymisation masks (``resized_anon_masks``, ``rgb_masks``: black = blurred faces and
the like) are part of the label mask too.

Frame ids: ``scannetpp/<scene>/<image stem>/<device>``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from datagen.errors import SourceError
from datagen.render.raycast import cast_rays
from datagen.sources import register
from datagen.sources._cache import LruCache
from datagen.sources._camera_files import read_colmap_images, read_mask
from datagen.sources._colmap import image_names_text, read_model
from datagen.sources._io import read_depth_png, read_text
from datagen.sources._meshes import load_mesh, scan_scene
from datagen.sources._tables import FrameTableBuilder, check_flag, check_root, names_option, optional_paths
from datagen.sources.base import FrameTable, Source
from datagen.types import Camera, Frame

log = logging.getLogger(__name__)

NAME = "scannetpp"
MESH_FILE = "scans/mesh_aligned_0.05.ply"


@dataclass(frozen=True)
class Device:
    """Where a device's files are in a scene folder (``common/scene_release.py`` of the toolkit)."""

    colmap: str
    images: str
    masks: str


DEVICES = {"dslr": Device("dslr/colmap", "dslr/resized_images", "dslr/resized_anon_masks"),
           "iphone": Device("iphone/colmap", "iphone/rgb", "iphone/rgb_masks")}
DEFAULT_DEVICES = ("dslr",)
#: iPhone depth maps as ``prepare_iphone_data.py`` writes them: uint16 millimetres, 0 = none.
IPHONE_DEPTH_DIR = "iphone/depth"
IPHONE_DEPTH_UNITS_PER_M = 1000.0
#: A mesh hit farther than ratio * iPhone depth + margin went through a hole in the scan.
HOLE_DEPTH_RATIO = 1.1
HOLE_DEPTH_MARGIN_M = 0.1
#: The official split lists (``splits/``) and the split each one is.
SPLIT_FILES = {"nvs_sem_train.txt": "train", "nvs_sem_val.txt": "val", "nvs_test.txt": "test",
               "sem_test.txt": "test"}
LAYOUT = ("ScanNet++ layout: data/<scene>/scans/mesh_aligned_0.05.ply, dslr/colmap/{cameras,images}.txt, "
          "dslr/resized_images/, iphone/colmap/, iphone/rgb/ (extracted), splits/*.txt")


@dataclass(frozen=True, eq=False)
class _Scene:
    """One scene's mesh (as a ray-castable scene) and each device's COLMAP model by image stem."""

    folder: Path
    scene: object
    models: dict


@register(NAME)
class ScanNetppSource(Source):
    """ScanNet++ scenes; one frame per registered DSLR (and optionally iPhone) image."""

    @dataclass(frozen=True)
    class Config:
        """Options of the scannetpp source.

        Attributes:
            root: the download (``data/``, ``splits/``), its ``data/`` folder, or one scene folder.
            devices: which cameras to list, of "dslr" and "iphone".
            split_dir: folder of the official split lists; None: ``root/splits`` (or beside ``data/``).
            cull_back_faces: no label where a ray meets the scan from behind (a hole).
            iphone_depth_check: drop iPhone labels the iPhone's depth shows to be behind a hole.
            anon_masks: drop labels on anonymised pixels (the released masks), where they exist.
        """

        root: Path | None = None
        devices: tuple = DEFAULT_DEVICES
        split_dir: Path | None = None
        cull_back_faces: bool = True
        iphone_depth_check: bool = True
        anon_masks: bool = True

        def __post_init__(self) -> None:
            check_root(self, NAME, "a ScanNet++ download or a scene folder")
            optional_paths(self, "split_dir")
            object.__setattr__(self, "devices", names_option(NAME, "devices", self.devices, DEVICES, "some"))
            for name in ("cull_back_faces", "iphone_depth_check", "anon_masks"):
                check_flag(NAME, name, getattr(self, name))

    def __init__(self, config: "ScanNetppSource.Config | None" = None) -> None:
        super().__init__(config)
        self._scenes: LruCache[_Scene] = LruCache(1)
        self._split_of_scene: dict | None = None

    # --- the frames ----------------------------------------------------------------------

    def frame_table(self) -> FrameTable:
        table, split_of = FrameTableBuilder(), self._splits()
        for folder in scene_folders(self.config.root):
            for device in self.config.devices:
                stems = _registered_stems(folder, device)
                table.add_ids([f"{NAME}/{folder.name}/{stem}/{device}" for stem in stems], folder.name,
                              split_of.get(folder.name), [device] * len(stems))
        return table.build()

    def load_frame(self, frame_id: str) -> Frame:
        scene_id, stem, device = self._parse(frame_id)
        scene = self._scenes.get(scene_id, lambda: self._load_scene(scene_id))
        model = scene.models.get(device)
        if model is None:
            model = scene.models[device] = _model_by_stem(scene.folder, device)
        if stem not in model:
            raise SourceError(f"{scene.folder / DEVICES[device].colmap}: no registered image {stem!r} ({LAYOUT})")
        name, camera = model[stem]
        layout = DEVICES[device]
        image_path = scene.folder / layout.images / Path(name).name
        mask = self._label_mask(scene, device, stem, camera)
        return Frame(frame_id=frame_id, source=NAME, camera=camera, image_path=image_path, mesh=scene.scene,
                     sequence=scene_id, split=self._splits().get(scene_id), label_mask=mask,
                     meta={"device": device, "image": name, "depth_from": "mesh", "pose_known": True,
                           "mesh": MESH_FILE})

    def _parse(self, frame_id: str) -> tuple[str, str, str]:
        parts = frame_id.split("/") if isinstance(frame_id, str) else []
        if len(parts) != 4 or parts[0] != NAME or parts[3] not in DEVICES or not parts[1] or not parts[2]:
            raise SourceError(f"scannetpp: frame id {frame_id!r} is not '{NAME}/<scene>/<image stem>/<dslr|iphone>'")
        return parts[1], parts[2], parts[3]

    # --- scenes ----------------------------------------------------------------------------

    def _load_scene(self, scene_id: str) -> _Scene:
        root = self.config.root
        candidates = (root, root / "data" / scene_id, root / scene_id)
        folder = next((f for f in candidates if f.name == scene_id and _is_scene(f)), None)
        if folder is None:
            raise SourceError(f"{root}: no scene folder {scene_id!r} ({LAYOUT})")
        mesh = load_mesh(folder / MESH_FILE, LAYOUT)
        return _Scene(folder, scan_scene(mesh, scene_id, self.config.cull_back_faces), {})

    def _label_mask(self, scene: _Scene, device: str, stem: str, camera: Camera) -> np.ndarray | None:
        """(H, W) bool: pixels not anonymised and, for the iPhone, not behind a hole; None if no file says."""
        mask = None
        mask_path = scene.folder / DEVICES[device].masks / f"{stem}.png"
        if self.config.anon_masks and mask_path.is_file():
            mask = read_mask(mask_path, LAYOUT, (camera.width, camera.height))
        depth_path = scene.folder / IPHONE_DEPTH_DIR / f"{stem}.png"
        if device == "iphone" and self.config.iphone_depth_check and depth_path.is_file():
            seen = not_behind_holes(scene.scene, camera, _iphone_depth(depth_path))
            mask = seen if mask is None else mask & seen
        return mask

    def _splits(self) -> dict:
        """{scene id: split} from the official lists that exist; {} if none."""
        if self._split_of_scene is None:
            self._split_of_scene = {}
            folder = self.config.split_dir or _split_dir(self.config.root)
            for file_name, split in SPLIT_FILES.items():
                path = folder / file_name
                if path.is_file():
                    for scene_id in read_text(path, LAYOUT).split():
                        self._split_of_scene.setdefault(scene_id, split)
        return self._split_of_scene


def scene_folders(root: Path) -> list[Path]:
    """The scene folders under a ScanNet++ root (the download, its ``data/``, or one scene), sorted."""
    root = Path(root)
    if _is_scene(root):
        return [root]
    data = root / "data" if (root / "data").is_dir() else root
    if not data.is_dir():
        raise SourceError(f"{root}: not a folder ({LAYOUT})")
    folders = sorted(p for p in data.iterdir() if _is_scene(p))
    if not folders:
        raise SourceError(f"{data}: no scene folders with dslr/ or iphone/ ({LAYOUT})")
    return folders


def _is_scene(folder: Path) -> bool:
    return (folder / "dslr").is_dir() or (folder / "iphone").is_dir()


def _split_dir(root: Path) -> Path:
    root = Path(root)
    if (root / "splits").is_dir():
        return root / "splits"
    return root.parent / "splits" if root.name == "data" else root.parent.parent / "splits"


def _registered_stems(folder: Path, device: str) -> list[str]:
    """Stems of a device's registered images whose file is on disk, sorted; [] without the device."""
    model_dir = folder / DEVICES[device].colmap
    if not model_dir.is_dir():
        return []
    image_dir = folder / DEVICES[device].images
    on_disk = {p.stem for p in image_dir.iterdir()} if image_dir.is_dir() else set()
    names = image_names_text(model_dir / "images.txt") if (model_dir / "images.txt").is_file() \
        else [image.name for image in read_model(model_dir).images]
    stems = sorted({Path(name).stem for name in names} & on_disk)
    if len(stems) < len(names):
        log.debug("%s: %d of %d registered images are on disk", model_dir, len(stems), len(names))
    return stems


def _model_by_stem(folder: Path, device: str) -> dict:
    """{image stem: (image name, posed Camera)} of a device's COLMAP model."""
    layout = DEVICES[device]
    return {Path(image.name).stem: (image.name, image.camera)
            for image in read_colmap_images(folder / layout.colmap, folder / layout.images)}


def _iphone_depth(path: Path) -> np.ndarray:
    return read_depth_png(path, LAYOUT) / IPHONE_DEPTH_UNITS_PER_M


def not_behind_holes(scene, camera: Camera, depth_m: np.ndarray) -> np.ndarray:
    """(H, W) bool in ``camera``'s image: False where the mesh's hit lies far behind a measured depth.

    The depth map (h, w) covers the same image at a lower resolution (the iPhone's depth is
    registered to its colour image). Each depth pixel's centre is cast into the scene; where
    the mesh's z exceeds ``HOLE_DEPTH_RATIO * depth + HOLE_DEPTH_MARGIN_M``, the depth saw a
    surface the mesh lacks. The verdict is widened by one depth pixel (a colour pixel near a hole's
    edge may see through it while the centre of its depth pixel does not), and every colour pixel
    takes the verdict of the depth pixel covering it.

    Args:
        scene: the scan, world frame.
        camera: the colour camera, with ``T_world_cam``.
        depth_m: (h, w) float depth along the optical axis, metres; 0 = no measurement.
    """
    h, w = depth_m.shape
    sx, sy = camera.width / w, camera.height / h
    u, v = np.meshgrid((np.arange(w) + 0.5) * sx - 0.5, (np.arange(h) + 0.5) * sy - 0.5)
    rays = camera.rays(np.column_stack([u.ravel(), v.ravel()]))
    ok = np.all(np.isfinite(rays), axis=1)
    z_mesh = np.full(len(rays), np.inf)
    hits = cast_rays(scene, camera.T_world_cam[:3, 3], rays[ok] @ camera.T_world_cam[:3, :3].T)
    z_mesh[ok] = hits.t_m * rays[ok, 2]
    depth = depth_m.ravel()
    hole = (depth > 0) & np.isfinite(z_mesh) & (z_mesh > HOLE_DEPTH_RATIO * depth + HOLE_DEPTH_MARGIN_M)
    # a colour pixel near a hole's edge may see through it while its depth pixel's centre does not
    hole = ndimage.binary_dilation(hole.reshape(h, w), structure=np.ones((3, 3), dtype=bool))
    cols = np.minimum(((np.arange(camera.width) + 0.5) / sx).astype(np.int64), w - 1)
    rows = np.minimum(((np.arange(camera.height) + 0.5) / sy).astype(np.int64), h - 1)
    return ~hole[rows[:, None], cols[None, :]]
