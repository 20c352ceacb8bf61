"""NYU Depth v2, labelled set: ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3) and ``splits.mat``.

The facts this source relies on (docs/sources/nyuv2.md cites each):

* ``images`` (H x W x 3 x N, uint8), ``rawDepths`` and ``depths`` (H x W x N, metres)
  hold N = 1449 frames of 640 x 480. ``rawDepths`` is the Kinect depth after the toolbox
  projected it onto the RGB image plane (``project_depth_map.m``), 0 where the sensor gave
  none; ``depths`` is the same with the holes filled by Levin et al.'s colorization
  (``fill_depth_colorization.m``): the filled values are guesses, not measurements.
  Both are optical-axis depth (the toolbox back-projects ``X = (x - cx) * z / fx``).
* The images are the toolbox's *undistorted* RGB (``project_depth_map.m`` runs
  ``undistort`` with ``kc_rgb`` before projecting depth onto it); pixels mapped from
  outside the raw frame are filled with 255, a white border of about 6 px. So the camera
  is a pinhole with ``camera_params.m``'s RGB intrinsics and no distortion.
* Pixel convention: ``camera_params.m`` comes from the RGBDemo calibration (OpenCV, pixel
  centres at integers), and ``undistort.m`` (Bouguet's ``rect``) uses it that way. The
  toolbox's depth path indexes pixels from 1 twice (``depth_plane2depth_world.m`` and the
  final store in ``project_depth_map.m``); the two offsets cancel to ``1 - fx_rgb/fx_d``
  = 0.11 px, so the published principal point is used as it stands
  (tests/sources/test_nyuv2.py replays the toolbox's chain on a slanted plane).
* ``project_depth_map.m`` clamps depth to ``maxDepth`` = 10 m: a value of 10 m or more is
  a clamp, not a measurement, and gives no label. Labels are kept inside the toolbox's
  projection mask (``get_projection_mask.m``: rows 45-471, columns 41-601, 1-based), the
  region the depth camera sees, which also leaves out the white border.
* ``splits.mat`` holds ``trainNdxs`` (795) and ``testNdxs`` (654), 1-based indices into
  the labelled set.

Ids: ``nyuv2/<scene>/<index:04d>`` with the 1-based index of the labelled set (as
``splits.mat`` and the toolbox count). The sequence is the scene (``bedroom_0001``), so
splits made by the build never put one room in two splits. There are no poses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import SourceError
from datagen.sources import register
from datagen.sources._matlab import V73File, read_arrays
from datagen.sources._tables import check_choice, check_flag, check_name, check_root
from datagen.sources.base import FrameTable, Source
from datagen.types import Camera, Frame

log = logging.getLogger(__name__)

NAME = "nyuv2"
LABELED_FILE = "nyu_depth_v2_labeled.mat"
SPLITS_FILE = "splits.mat"
LAYOUT = f"NYU Depth v2 labelled set: {LABELED_FILE} (MATLAB v7.3) and {SPLITS_FILE}"

#: Colour camera of the toolbox's camera_params.m (RGBDemo calibration, OpenCV pixel centres), pixels.
FX_RGB, FY_RGB = 5.1885790117450188e+02, 5.1946961112127485e+02
CX_RGB, CY_RGB = 3.2558244941119034e+02, 2.5373616633400465e+02
#: The raw RGB frames' distortion (k1, k2, p1, p2, k3), already removed from the labelled images.
RGB_DISTORTION_REMOVED = (2.0796615318809061e-01, -5.8613825163911781e-01, 7.2231363135888329e-04,
                          1.0479627195765181e-03, 4.9856986684705107e-01)
WIDTH, HEIGHT = 640, 480
#: project_depth_map.m clamps depth to maxDepth (camera_params.m): such values are no measurement.
MAX_DEPTH_M = 10.0
#: get_projection_mask.m: mask(45:471, 41:601), 1-based and inclusive; here 0-based, end exclusive.
PROJECTION_ROWS, PROJECTION_COLS = slice(44, 471), slice(40, 601)
#: source option ``depth`` -> variable of the labelled set.
DEPTH_VARIABLES = {"raw": "rawDepths", "filled": "depths"}
#: split -> variable of splits.mat (1-based indices).
SPLIT_VARIABLES = {"train": "trainNdxs", "test": "testNdxs"}


@register(NAME)
class NYUv2Source(Source):
    """The 1449 labelled frames of NYU Depth v2, one frame per image."""

    @dataclass(frozen=True)
    class Config:
        """Options of the nyuv2 source.

        Attributes:
            root: folder holding the labelled ``.mat`` (and ``splits.mat``).
            labeled: the labelled set's file name in ``root``.
            splits: ``splits.mat``'s file name in ``root``; None: no official split (the build
                splits by scene).
            depth: "raw" (``rawDepths``, the sensor's; default) or "filled" (``depths``, holes
                in-painted by colorization).
            projection_mask: keep labels inside the toolbox's projection mask only.
        """

        root: Path | None = None
        labeled: str = LABELED_FILE
        splits: str | None = SPLITS_FILE
        depth: str = "raw"
        projection_mask: bool = True

        def __post_init__(self) -> None:
            check_root(self, NAME, f"the folder holding {LABELED_FILE}")
            check_choice(NAME, "depth", self.depth, DEPTH_VARIABLES)
            check_flag(NAME, "projection_mask", self.projection_mask)
            check_name(NAME, "labeled", self.labeled, "a file name")
            if self.splits is not None:
                check_name(NAME, "splits", self.splits, "a file name")

    def __init__(self, config: "NYUv2Source.Config | None" = None) -> None:
        super().__init__(config)
        self._mat = V73File(self.config.root / self.config.labeled, LAYOUT)
        self._scenes: list[str] | None = None
        self._splits: np.ndarray | None = None

    def frame_table(self) -> FrameTable:
        scenes = self._scene_names()
        ids = [f"{NAME}/{scene}/{index:04d}" for index, scene in enumerate(scenes, 1)]
        return FrameTable(np.array(ids, dtype=object), sequence=np.array(scenes, dtype=object),
                          split=self._split_column())

    def load_frame(self, frame_id: str) -> Frame:
        index = self._index(frame_id)  # 0-based
        image = self._mat.item("images", index)
        depth = self._mat.item(DEPTH_VARIABLES[self.config.depth], index)
        _check_shapes(self._mat.path, index, image, depth)
        split = self._split_column()
        return Frame(frame_id=frame_id, source=NAME, camera=colour_camera(), image=image,
                     depth_m=self._labels(depth), depth_kind="z", sequence=self._scene_names()[index],
                     split=(split[index] or None) if split is not None else None,
                     meta={"file": str(self._mat.path), "index": index + 1, "depth_from": "depth_map",
                           "depth": DEPTH_VARIABLES[self.config.depth]})

    def _scene_names(self) -> list[str]:
        if self._scenes is None:
            scenes = self._mat.strings("scenes")
            if len(scenes) != self._mat.count("images"):
                raise SourceError(f"{self._mat.path}: {len(scenes)} scenes for {self._mat.count('images')} images "
                                  f"({LAYOUT})")
            self._scenes = scenes
        return self._scenes

    def _split_column(self) -> np.ndarray | None:
        if self.config.splits is None:
            return None
        if self._splits is None:
            self._splits = read_splits(self.config.root / self.config.splits, len(self._scene_names()))
        return self._splits

    def _index(self, frame_id: str) -> int:
        """The 0-based index of a frame id, checked against the file's scenes."""
        prefix, scene, number = (frame_id.split("/") + ["", "", ""])[:3]
        scenes = self._scene_names()
        ok = prefix == NAME and number.isdigit() and 1 <= int(number) <= len(scenes) \
            and scenes[int(number) - 1] == scene and frame_id.count("/") == 2
        if not ok:
            raise SourceError(f"{self._mat.path}: no frame {frame_id!r} (expected {NAME}/<scene>/<1-based index>, "
                              f"{len(scenes)} frames)")
        return int(number) - 1

    def _labels(self, depth: np.ndarray) -> np.ndarray:
        """(H, W) float64 metres: measured depths, NaN where there is no label."""
        depth = depth.astype(np.float64)
        valid = np.isfinite(depth) & (depth > 0) & (depth < MAX_DEPTH_M)
        if self.config.projection_mask:
            inside = np.zeros_like(valid)
            inside[PROJECTION_ROWS, PROJECTION_COLS] = True
            valid &= inside
        return np.where(valid, depth, np.nan)


def colour_camera() -> Camera:
    """The labelled images' pinhole camera (undistorted by the toolbox; OpenCV pixel centres)."""
    return Camera.from_intrinsics(FX_RGB, FY_RGB, CX_RGB, CY_RGB, WIDTH, HEIGHT)


def _check_shapes(path: Path, index: int, image: np.ndarray, depth: np.ndarray) -> None:
    if image.shape != (HEIGHT, WIDTH, 3) or image.dtype != np.uint8:
        raise SourceError(f"{path}: images[{index + 1}] is {image.shape} {image.dtype}, expected "
                          f"({HEIGHT}, {WIDTH}, 3) uint8 ({LAYOUT})")
    if depth.shape != (HEIGHT, WIDTH) or depth.dtype.kind != "f":
        raise SourceError(f"{path}: depth {index + 1} is {depth.shape} {depth.dtype}, expected "
                          f"({HEIGHT}, {WIDTH}) metres ({LAYOUT})")


def read_splits(path: Path, count: int) -> np.ndarray:
    """(count,) object array of "train"/"test" from ``splits.mat``'s 1-based index lists.

    Raises:
        SourceError: the file is missing or unreadable, or its indices do not cover
            1..count exactly once.
    """
    variables = read_arrays(path, tuple(SPLIT_VARIABLES.values()),
                            f"NYU Depth v2 {SPLITS_FILE}: {list(SPLIT_VARIABLES.values())}, 1-based; "
                            f"set the splits option to null to do without")
    column = np.full(count, "", dtype=object)
    for split, variable in SPLIT_VARIABLES.items():
        indices = np.asarray(variables[variable]).reshape(-1)
        whole = indices.astype(np.int64) if indices.dtype.kind in "uif" else None
        if whole is None or np.any(whole != indices) or np.any((whole < 1) | (whole > count)):
            raise SourceError(f"{path}: {variable} must be 1-based indices in 1..{count}")
        if np.any(column[whole - 1] != ""):
            raise SourceError(f"{path}: {variable} repeats an index or overlaps the other split")
        column[whole - 1] = split
    if np.any(column == ""):
        missing = np.flatnonzero(column == "")
        log.warning("%s: %d of %d frames are in neither split (first: %d)", path, len(missing), count, missing[0] + 1)
    return column
