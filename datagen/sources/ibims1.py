"""iBims-1 as released: ``ibims1_core_mat/<image>.mat`` and ``imagelist.txt``.

(The DepthLM curated excerpt of iBims-1 is read by the ``depthlm`` source; this one reads
the benchmark's own files, with its dense depth and masks.)

The facts this source relies on (docs/sources/ibims1.md cites each, from the benchmark's
evaluation script ``evaluate_ibims.py`` and its error metrics module):

* Each ``.mat`` (MATLAB v5) holds a struct ``data`` with ``rgb`` (480 x 640 x 3 uint8),
  ``depth`` (metres, from the laser scan; 0 = missing), ``calib`` (3x3) and the masks
  ``mask_invalid`` and ``mask_transp``. Despite the names, a mask is 1 where the pixel is
  usable: the evaluation multiplies ``mask_transp * mask_invalid * mask_missing`` into the
  depth. So a label needs depth > 0 and both masks non-zero (no transparent surface, no
  invalid scan).
* ``calib`` is MATLAB's transposed intrinsic matrix: ``fx = calib[0, 0]``,
  ``fy = calib[1, 1]``, ``cx = calib[2, 0]``, ``cy = calib[2, 1]``, used on 1-based
  pixels (``meshgrid(range(1, W + 1), ...)``): the 0-based principal point is one less.
* Depth is along the optical axis: the evaluation back-projects ``X = (c - cx) * d / fx``.
* iBims-1 is a test set (100 images, no training part): frames are "test" unless the
  ``split`` option says otherwise.

Ids: ``ibims1/<scene>/<image>`` (``ibims1/corridor/corridor_01``); the sequence is the
scene, the image name without its number. There are no poses.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import CameraError, SourceError
from datagen.sources import register
from datagen.sources._io import read_text
from datagen.sources._matlab import read_v5, struct_field
from datagen.sources._tables import check_root, check_split
from datagen.sources.base import FrameTable, Source
from datagen.types import Camera, Frame

log = logging.getLogger(__name__)

NAME = "ibims1"
MAT_FOLDER = "ibims1_core_mat"
IMAGE_LIST = "imagelist.txt"
LAYOUT = f"iBims-1 release: {MAT_FOLDER}/{IMAGE_LIST} and {MAT_FOLDER}/<image>.mat (struct 'data')"
#: Fields of ``data`` this source reads.
FIELDS = ("rgb", "depth", "calib", "mask_invalid", "mask_transp")
#: The evaluation's pixel grid starts at 1 (meshgrid(range(1, W + 1))): cx, cy of calib minus this.
MATLAB_FIRST_PIXEL = 1.0
#: iBims-1 is an evaluation benchmark only.
OFFICIAL_SPLIT = "test"
_SCENE = re.compile(r"^(?P<scene>.*?[A-Za-z].*?)[_\-]?\d+$")


@register(NAME)
class IBims1Source(Source):
    """The iBims-1 benchmark images with their laser-scan depth, one frame per ``.mat``."""

    @dataclass(frozen=True)
    class Config:
        """Options of the ibims1 source.

        Attributes:
            root: the folder holding ``ibims1_core_mat/``, or that folder itself.
            split: the split of every frame ("test", the benchmark's purpose); None: the build
                splits by scene.
        """

        root: Path | None = None
        split: str | None = OFFICIAL_SPLIT

        def __post_init__(self) -> None:
            check_root(self, NAME, f"the folder holding {MAT_FOLDER}/")
            check_split(NAME, self.split)

    def __init__(self, config: "IBims1Source.Config | None" = None) -> None:
        super().__init__(config)
        self._folder: Path | None = None

    @property
    def mat_folder(self) -> Path:
        if self._folder is None:
            root = self.config.root
            self._folder = root / MAT_FOLDER if (root / MAT_FOLDER).is_dir() else root
            if not self._folder.is_dir():
                raise SourceError(f"{root}: not a folder ({LAYOUT})")
        return self._folder

    def frame_table(self) -> FrameTable:
        names = self._image_names()
        scenes = [scene_of(name) for name in names]
        splits = np.full(len(names), self.config.split, dtype=object) if self.config.split else None
        return FrameTable(np.array([f"{NAME}/{s}/{n}" for s, n in zip(scenes, names)], dtype=object),
                          sequence=np.array(scenes, dtype=object), split=splits)

    def load_frame(self, frame_id: str) -> Frame:
        parts = frame_id.split("/")
        if len(parts) != 3 or parts[0] != NAME or not parts[2] or parts[1] != scene_of(parts[2]):
            raise SourceError(f"{self.mat_folder}: no frame {frame_id!r} (expected {NAME}/<scene>/<image>)")
        path = self.mat_folder / f"{parts[2]}.mat"
        data = read_v5(path, LAYOUT, ("data",))["data"]
        rgb, depth, calib, invalid, transparent = (struct_field(data, name, str(path)) for name in FIELDS)
        _check_arrays(path, rgb, depth, invalid, transparent)
        usable = np.isfinite(depth) & (depth > 0) & (invalid != 0) & (transparent != 0)
        return Frame(frame_id=frame_id, source=NAME, camera=camera_from_calib(calib, rgb.shape, path), image=rgb,
                     depth_m=np.where(usable, depth.astype(np.float64), np.nan), depth_kind="z",
                     sequence=parts[1], split=self.config.split,
                     meta={"file": str(path), "depth_from": "depth_map",
                           "masked": int((np.isfinite(depth) & (depth > 0) & ~usable).sum())})

    def _image_names(self) -> list[str]:
        """The names in ``imagelist.txt`` (the benchmark's order), else the ``.mat`` files by name."""
        listing = self.mat_folder / IMAGE_LIST
        if listing.is_file():
            names = [line.strip() for line in read_text(listing, LAYOUT).splitlines() if line.strip()]
        else:
            names = sorted(path.stem for path in self.mat_folder.glob("*.mat"))
            log.info("%s: no %s; using the %d .mat files by name", self.mat_folder, IMAGE_LIST, len(names))
        if not names:
            raise SourceError(f"{self.mat_folder}: no images ({LAYOUT})")
        bad = [name for name in names if "/" in name or name.endswith(".mat")]
        if bad:
            raise SourceError(f"{listing}: expected image names without folder or extension, got {bad[0]!r}")
        return names


def scene_of(name: str) -> str:
    """The scene of an image name: ``corridor_01`` -> ``corridor``."""
    match = _SCENE.match(name)
    return match.group("scene") if match else name


def camera_from_calib(calib: np.ndarray, shape: tuple, path: Path) -> Camera:
    """Pinhole camera from iBims-1's ``calib`` ([[fx 0 0], [0 fy 0], [cx cy 1]], 1-based principal point)."""
    calib = np.asarray(calib, dtype=np.float64)
    if calib.shape != (3, 3) or np.any(calib[[0, 0, 1, 1], [1, 2, 0, 2]] != 0) or calib[2, 2] != 1:
        raise SourceError(f"{path}: calib must be MATLAB's intrinsic matrix [fx 0 0; 0 fy 0; cx cy 1], "
                          f"got {calib.tolist()}")
    try:
        return Camera.from_intrinsics(calib[0, 0], calib[1, 1], calib[2, 0] - MATLAB_FIRST_PIXEL,
                                      calib[2, 1] - MATLAB_FIRST_PIXEL, shape[1], shape[0])
    except CameraError as exc:
        raise SourceError(f"{path}: bad calib ({exc})") from None


def _check_arrays(path: Path, rgb: np.ndarray, depth: np.ndarray, *masks: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise SourceError(f"{path}: data.rgb must be H x W x 3 uint8, got {rgb.shape} {rgb.dtype}")
    for name, array in zip(("depth", "mask_invalid", "mask_transp"), (depth, *masks)):
        if array.shape != rgb.shape[:2] or array.dtype.kind not in "uifb":
            raise SourceError(f"{path}: data.{name} must be {rgb.shape[0]} x {rgb.shape[1]} numbers, got "
                              f"{array.shape} {array.dtype}")
