"""ETH3D high-resolution multi-view training scenes: undistorted DSLR images, laser-scan depth, COLMAP poses.

The facts this source relies on (docs/sources/eth3d.md cites each):

* ``<scene>/images/dslr_images_undistorted/*.JPG`` with ``<scene>/dslr_calibration_undistorted/
  {cameras,images}.txt``: COLMAP text models, PINHOLE cameras; the pose of each image maps
  world to camera (read by ``_colmap``, which also moves COLMAP's principal point by half a
  pixel to datagen's pixel centres). Metres: the models are aligned to the laser scans.
* ``<scene>/ground_truth_depth/dslr_images/<image>.JPG`` (despite the name): raw float32,
  little-endian, row-major, one value per pixel of the *distorted* image
  (``images/dslr_images``, 6048 x 4032), ``inf`` where the scan gives none. The depth
  maps match the original (distorted) images, not the undistorted ones, whose camera is
  COLMAP's THIN_PRISM_FISHEYE in ``<scene>/dslr_calibration_jpg/cameras.txt``.
* The values are optical-axis depth (z), not range.
* Only the 13 training scenes have public ground truth (``TRAINING_SCENES``).

So each frame is the undistorted image, and its labels are the depth-map pixels of the
distorted image turned into 3D points: the pixel centre's ray through the thin-prism lens
(``_thin_prism``) times its z. Both calibrations share each image's pose and centre, so
the points are already in the undistorted camera's frame; the build projects them into
its image with a z-buffer (``meta["points_from"] = "depth_map"``).

Ids: ``eth3d/<scene>/<image stem>``; the sequence is the scene, so the pose task pairs
images of one scene with their COLMAP poses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import SourceError
from datagen.sources import register
from datagen.sources._cache import LruCache
from datagen.sources._colmap import ColmapImage, ColmapModel, content_lines, read_images_text, read_model
from datagen.sources._io import image_size, parse_numbers, require_file
from datagen.sources._tables import FrameTableBuilder, check_count, check_root, check_split, names_option
from datagen.sources._thin_prism import MODEL as THIN_PRISM, PARAM_COUNT, ThinPrismFisheye
from datagen.sources.base import FrameTable, Source
from datagen.types import Frame

log = logging.getLogger(__name__)

NAME = "eth3d"
#: The high-res multi-view training scenes (the test scenes have no public ground truth).
TRAINING_SCENES = ("courtyard", "delivery_area", "electro", "facade", "kicker", "meadow", "office", "pipes",
                   "playground", "relief", "relief_2", "terrace", "terrains")
UNDISTORTED_CALIBRATION = "dslr_calibration_undistorted"
DISTORTED_CALIBRATION = "dslr_calibration_jpg"
IMAGES = "images"
DEPTH = "ground_truth_depth"
#: Depth maps: raw little-endian float32, row-major, at the distorted image's size; inf = no depth.
DEPTH_DTYPE = "<f4"
LAYOUT = ("ETH3D high-res multi-view training layout: <scene>/images/dslr_images_undistorted/*.JPG, "
          "<scene>/dslr_calibration_undistorted/, <scene>/dslr_calibration_jpg/cameras.txt, "
          "<scene>/ground_truth_depth/dslr_images/*.JPG")
#: Largest difference (metres, rotation entries) between an image's pose in the two calibrations.
POSE_TOLERANCE = 1e-6
#: How many scenes' calibrations, and cameras' ray grids, a source instance keeps.
CACHE_SCENES = 2


@register(NAME)
class ETH3DSource(Source):
    """ETH3D's training scenes: one frame per undistorted DSLR image with a ground-truth depth map."""

    @dataclass(frozen=True)
    class Config:
        """Options of the eth3d source.

        Attributes:
            root: the folder holding the scene folders (``courtyard/``, ``delivery_area/``, ...).
            scenes: the scenes to use (names or a comma-separated string); None: every
                training scene found in ``root``.
            split: the split of every frame ("train": ETH3D's training scenes); None: the build
                splits by scene.
            stride: use every stride-th depth pixel in each direction (6048 x 4032 maps; 3 keeps
                2.7 million candidates, at least one per pixel of the image normalised to 1000 px).
        """

        root: Path | None = None
        scenes: tuple[str, ...] | None = None
        split: str | None = "train"
        stride: int = 3

        def __post_init__(self) -> None:
            check_root(self, NAME, "the folder holding the scene folders")
            if self.scenes is not None:
                object.__setattr__(self, "scenes", names_option(NAME, "scenes", self.scenes, what="scene names"))
            check_split(NAME, self.split)
            check_count(NAME, "stride", self.stride)

    def __init__(self, config: "ETH3DSource.Config | None" = None) -> None:
        super().__init__(config)
        self._scenes: LruCache[_Scene] = LruCache(CACHE_SCENES)
        self._ray_grids: LruCache[np.ndarray] = LruCache(CACHE_SCENES)

    def frame_table(self) -> FrameTable:
        table = FrameTableBuilder()
        for scene in self._scene_names():
            table.add_ids([f"{NAME}/{scene}/{stem}" for stem in sorted(self._scene(scene).by_stem)], scene,
                          self.config.split)
        return table.build()

    def load_frame(self, frame_id: str) -> Frame:
        parts = frame_id.split("/")
        if len(parts) != 3 or parts[0] != NAME or not (self.config.root / parts[1] / UNDISTORTED_CALIBRATION).is_dir():
            raise SourceError(f"{self.config.root}: no frame {frame_id!r} (expected {NAME}/<scene>/<image>)")
        scene = self._scene(parts[1])
        image = scene.by_stem.get(parts[2])
        if image is None:
            raise SourceError(f"{scene.folder / UNDISTORTED_CALIBRATION / 'images.txt'}: no image {parts[2]!r}")
        camera = scene.model.camera_of(image)
        image_path = scene.folder / IMAGES / image.name
        if image_size(image_path, LAYOUT) != (camera.width, camera.height):
            raise SourceError(f"{image_path}: size differs from its camera's {camera.width}x{camera.height} "
                              f"in {UNDISTORTED_CALIBRATION}/cameras.txt")
        points, depth_path = self._points(scene, image)
        return Frame(frame_id=frame_id, source=NAME, camera=camera, image_path=image_path, points=points,
                     sequence=parts[1], split=self.config.split,
                     meta={"depth": str(depth_path), "points_from": "depth_map", "image_id": image.image_id})

    def _scene_names(self) -> list[str]:
        root = self.config.root
        if self.config.scenes is not None:
            return list(self.config.scenes)
        if not root.is_dir():
            raise SourceError(f"{root}: not a folder ({LAYOUT})")
        found = sorted(p.name for p in root.iterdir() if (p / UNDISTORTED_CALIBRATION).is_dir())
        others = [name for name in found if name not in TRAINING_SCENES]
        if others:
            log.info("%s: leaving out %s (not training scenes: no public ground truth)", root, others)
        scenes = [name for name in found if name in TRAINING_SCENES]
        if not scenes:
            raise SourceError(f"{root}: no training scene folder with {UNDISTORTED_CALIBRATION}/ ({LAYOUT})")
        return scenes

    def _scene(self, name: str) -> "_Scene":
        return self._scenes.get(name, lambda: _Scene.read(self.config.root / name))

    def _points(self, scene: "_Scene", image: ColmapImage) -> tuple[np.ndarray, Path]:
        """(N, 3) float64 points of the image's depth map, its camera frame, metres; and the depth file."""
        lens_id, distorted_name = scene.distorted_of(image)
        lens = scene.lenses[lens_id]
        path = scene.folder / DEPTH / distorted_name
        depth = _read_depth(path, lens)[::self.config.stride, ::self.config.stride]
        rays = self._rays(scene, lens_id)  # (h, w, 2) float32, NaN where the lens model has no ray
        keep = np.isfinite(depth) & (depth > 0) & np.isfinite(rays[..., 0])
        z = depth[keep].astype(np.float64)
        xy = rays[keep].astype(np.float64)
        return np.column_stack([xy * z[:, None], z]), path

    def _rays(self, scene: "_Scene", lens_id: int) -> np.ndarray:
        """Normalised rays of every stride-th distorted pixel centre, computed once per camera."""
        lens = scene.lenses[lens_id]
        return self._ray_grids.get((scene.folder, lens_id), lambda: _lens_rays(lens, self.config.stride))


def _lens_rays(lens: ThinPrismFisheye, stride: int) -> np.ndarray:
    """(h, w, 2) float32 normalised rays of every ``stride``-th pixel centre; NaN where the lens has none."""
    rows, cols = np.mgrid[0:lens.height:stride, 0:lens.width:stride]
    centres = np.column_stack([cols.ravel(), rows.ravel()]) + 0.5  # COLMAP puts pixel centres at +0.5
    xy, _ = lens.unproject(centres)
    return xy.astype(np.float32).reshape(rows.shape + (2,))


@dataclass(frozen=True, eq=False)
class _Scene:
    """One scene's calibrations: the undistorted model, the distorted lenses and images."""

    folder: Path
    model: ColmapModel
    by_stem: dict
    lenses: dict
    distorted: dict

    @classmethod
    def read(cls, folder: Path) -> "_Scene":
        model = read_model(folder / UNDISTORTED_CALIBRATION)
        by_stem = {Path(image.name).stem: image for image in model.images}
        calibration = folder / DISTORTED_CALIBRATION
        lenses = read_thin_prism_cameras(calibration / "cameras.txt")
        distorted = {Path(image.name).name: image for image in read_images_text(
            require_file(calibration / "images.txt", _JPG_LAYOUT))}
        return cls(folder, model, by_stem, lenses, distorted)

    def distorted_of(self, undistorted: ColmapImage) -> tuple[int, str]:
        """(camera id, name) of the distorted image of the same file name, checked to have the same pose."""
        where = self.folder / DISTORTED_CALIBRATION / "images.txt"
        name = Path(undistorted.name).name
        image = self.distorted.get(name)
        if image is None:
            raise SourceError(f"{where}: no image named {name!r} ({_JPG_LAYOUT})")
        if image.camera_id not in self.lenses:
            raise SourceError(f"{where}: image {name!r} has camera {image.camera_id}, not in cameras.txt")
        if np.abs(image.T_world_cam - undistorted.T_world_cam).max() > POSE_TOLERANCE:
            raise SourceError(f"{where}: the pose of {name!r} differs from {UNDISTORTED_CALIBRATION}'s "
                              f"(calibrations of different releases?)")
        return image.camera_id, image.name


_JPG_LAYOUT = ("the depth maps belong to the distorted images: extract multi_view_training_dslr_jpg.7z's "
               f"{DISTORTED_CALIBRATION}/ into the scene folder")


def read_thin_prism_cameras(path: Path) -> dict[int, ThinPrismFisheye]:
    """``dslr_calibration_jpg/cameras.txt`` -> {camera_id: ThinPrismFisheye}."""
    lenses = {}
    for number, line in content_lines(path, _JPG_LAYOUT):
        where = f"{path}:{number}"
        fields = line.split()
        if len(fields) < 4 or fields[1] != THIN_PRISM or not all(f.isdigit() for f in (fields[0], *fields[2:4])):
            raise SourceError(f"{where}: expected 'CAMERA_ID {THIN_PRISM} WIDTH HEIGHT PARAMS...', "
                              f"got {line.strip()[:80]!r}")
        params = parse_numbers(" ".join(fields[4:]), PARAM_COUNT, where, f"{THIN_PRISM} parameters")
        try:
            lenses[int(fields[0])] = ThinPrismFisheye(int(fields[2]), int(fields[3]), params)
        except ValueError as exc:
            raise SourceError(f"{where}: {exc}") from None
    return lenses


def _read_depth(path: Path, lens: ThinPrismFisheye) -> np.ndarray:
    """(H, W) float32 depth map of a distorted image; inf (or NaN) where there is no depth."""
    layout = "ETH3D ground-truth depth: raw float32 at the distorted image's size; extract the scene's dslr_depth.7z"
    require_file(path, layout)
    expected = lens.width * lens.height * np.dtype(DEPTH_DTYPE).itemsize
    if path.stat().st_size != expected:
        raise SourceError(f"{path}: {path.stat().st_size} bytes, expected {lens.width}x{lens.height} float32 "
                          f"({expected} bytes) ({layout})")
    return np.fromfile(path, dtype=DEPTH_DTYPE).reshape(lens.height, lens.width)
