"""TUM RGB-D (Sturm et al. 2012): Kinect colour and depth at 640x480, motion-capture poses.

Layout of one sequence, as extracted from ``rgbd_dataset_freiburgN_<name>.tgz``::

    rgbd_dataset_freiburg1_desk/
      rgb.txt            timestamp filename    (rgb/<timestamp>.png, 640x480 8-bit colour)
      depth.txt          timestamp filename    (depth/<timestamp>.png, 640x480 16-bit)
      groundtruth.txt    timestamp tx ty tz qx qy qz qw   (optional: withheld for some sequences)

``root`` is one such folder or a folder of them. Facts from TUM's file-formats page
(docs/sources/tum.md cites them):

* depth PNG value / 5000 = metres along the optical axis (z); 0 = no data;
* colour and depth are "pre-registered by the OpenNI driver, the pixels correspond 1:1": the
  depth map is a label map of the colour image as shipped (no reprojection needed);
* the colour images are the raw, distorted ones: each sensor (freiburg1/2/3) has its own
  calibration (fx fy cx cy d0..d4, OpenCV's k1 k2 p1 p2 k3); freiburg3's is distortion-free;
* a groundtruth line is the colour camera's optical centre and orientation in the
  motion-capture world: camera-to-world, quaternion scalar last;
* images, depth maps and poses are associated by timestamp as ``associate.py`` does
  (nearest free partner, less than 0.02 s apart).

Frame ids: ``tum/<sequence folder>/<rgb timestamp as written in rgb.txt>``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import CameraError, SourceError
from datagen.sources import register
from datagen.sources._cache import LruCache
from datagen.sources._io import image_size, read_depth_png
from datagen.sources._registration import decode_depth
from datagen.sources._tables import FrameTableBuilder, check_choice, check_number, check_root
from datagen.sources._timestamps import MAX_DIFFERENCE_S, TimedList, associate, read_timed_list, read_trajectory
from datagen.sources.base import FrameTable, Source
from datagen.types import Camera, Frame

log = logging.getLogger(__name__)

NAME = "tum"
LAYOUT = "TUM RGB-D sequence: rgb.txt, depth.txt, groundtruth.txt beside rgb/ and depth/"
#: Stored depth units per metre ("a pixel value of 5000 corresponds to 1 m"); 0 = no data.
DEPTH_UNITS_PER_M = 5000.0
DEPTH_NO_DATA = (0,)
DEPTH_KIND = "z"
#: TUM's published colour calibrations: fx, fy, cx, cy (pixels), d0..d4 (OpenCV k1 k2 p1 p2 k3).
CALIBRATIONS = {
    "fr1": ((517.3, 516.5, 318.6, 255.3), (0.2624, -0.9531, -0.0054, 0.0026, 1.1633)),
    "fr2": ((520.9, 521.0, 325.1, 249.7), (0.2312, -0.7849, -0.0033, -0.0001, 0.9172)),
    "fr3": ((535.4, 539.2, 320.1, 247.6), (0.0, 0.0, 0.0, 0.0, 0.0)),
    # TUM's uncalibrated default, which its own point-cloud tools use (no undistortion).
    "ros_default": ((525.0, 525.0, 319.5, 239.5), (0.0, 0.0, 0.0, 0.0, 0.0)),
}
CALIBRATION_CHOICES = ("auto",) + tuple(CALIBRATIONS)
#: Sequences whose associated lists a source instance keeps.
CACHED_SEQUENCES = 4
_FREIBURG = re.compile(r"freiburg([123])")


@dataclass(frozen=True)
class _Sequence:
    """One sequence's associated frames: rgb rows, their depth rows and pose rows (-1: none)."""

    folder: Path
    rgb: TimedList
    depth: TimedList
    depth_of_rgb: np.ndarray
    poses: np.ndarray | None
    pose_of_rgb: np.ndarray
    calibration: str
    row_of_stamp: dict


@register(NAME)
class TUMSource(Source):
    """TUM RGB-D sequences; one frame per colour image that has a depth map within 0.02 s."""

    @dataclass(frozen=True)
    class Config:
        """Options of the tum source.

        Attributes:
            root: one sequence folder (holding rgb.txt) or a folder of sequence folders.
            calibration: "auto" (freiburg1/2/3 from the folder name), "fr1", "fr2", "fr3", or
                "ros_default" (TUM's uncalibrated 525/319.5/239.5 pinhole).
            max_difference_s: largest time between an image and its depth map or pose.
        """

        root: Path | None = None
        calibration: str = "auto"
        max_difference_s: float = MAX_DIFFERENCE_S

        def __post_init__(self) -> None:
            check_root(self, NAME, "a sequence folder or a folder of them")
            check_choice(NAME, "calibration", self.calibration, CALIBRATION_CHOICES)
            check_number(NAME, "max_difference_s", self.max_difference_s, 0.0, 1.0, unit="seconds")

    def __init__(self, config: "TUMSource.Config | None" = None) -> None:
        super().__init__(config)
        self._sequences: LruCache[_Sequence] = LruCache(CACHED_SEQUENCES)

    def frame_table(self) -> FrameTable:
        table = FrameTableBuilder()
        for folder in sequence_folders(self.config.root):
            sequence = self._sequence(folder.name)
            stamps = sequence.rgb.stamps[sequence.depth_of_rgb >= 0]
            table.add_ids([f"{NAME}/{folder.name}/{stamp}" for stamp in stamps], folder.name)
        return table.build()

    def load_frame(self, frame_id: str) -> Frame:
        name, row = self._parse(frame_id)
        sequence = self._sequence(name)
        rgb_path = sequence.folder / sequence.rgb.fields[row][0]
        depth_row = int(sequence.depth_of_rgb[row])
        depth_path = sequence.folder / sequence.depth.fields[depth_row][0]
        pose_row = int(sequence.pose_of_rgb[row])
        T_world_cam = np.eye(4) if pose_row < 0 else sequence.poses[pose_row]
        camera = _camera(sequence.calibration, image_size(rgb_path, LAYOUT), T_world_cam, rgb_path)
        depth = _read_depth(depth_path, camera)
        return Frame(frame_id=frame_id, source=NAME, camera=camera, image_path=rgb_path, depth_m=depth,
                     depth_kind=DEPTH_KIND, sequence=name, timestamp_s=float(sequence.rgb.times_s[row]),
                     meta={"rgb": sequence.rgb.fields[row][0], "depth": sequence.depth.fields[depth_row][0],
                           "depth_time_s": float(sequence.depth.times_s[depth_row]),
                           "calibration": sequence.calibration, "pose_known": pose_row >= 0,
                           "depth_from": "depth_map"})

    def _parse(self, frame_id: str) -> tuple[str, int]:
        source, _, rest = frame_id.partition("/")
        name, _, stamp = rest.partition("/")
        if source != NAME or not name or not stamp:
            raise SourceError(f"{self.config.root}: frame id {frame_id!r} is not tum/<sequence>/<rgb timestamp>")
        row = self._sequence(name).row_of_stamp.get(stamp)
        if row is None:
            raise SourceError(f"{self.config.root / name}/rgb.txt: no image at {stamp} with a depth map "
                              f"(frame id {frame_id!r})")
        return name, row

    def _sequence(self, name: str) -> _Sequence:
        return self._sequences.get(name, lambda: self._read_sequence(name))

    def _read_sequence(self, name: str) -> _Sequence:
        root = self.config.root
        folder = root if _is_sequence(root) and root.name == name else root / name
        return read_sequence(folder, self.config.calibration, self.config.max_difference_s)


def _is_sequence(folder: Path) -> bool:
    return (folder / "rgb.txt").is_file()


def sequence_folders(root: Path) -> list[Path]:
    """``root`` if it is a sequence, else its sub-folders that are, sorted by name."""
    if _is_sequence(root):
        return [root]
    if not root.is_dir():
        raise SourceError(f"{root}: not a folder ({LAYOUT})")
    found = sorted(p for p in root.iterdir() if p.is_dir() and _is_sequence(p))
    if not found:
        raise SourceError(f"{root}: no sequence folder with rgb.txt here or one level below ({LAYOUT})")
    return found


def sensor_calibration(folder: Path, choice: str) -> str:
    """The calibration to use: ``choice``, or with "auto" the freiburg number in the folder name."""
    if choice != "auto":
        return choice
    match = _FREIBURG.search(folder.name)
    if match is None:
        raise SourceError(f"{folder}: cannot tell the sensor from the folder name (expected "
                          f"rgbd_dataset_freiburg<1|2|3>_...); set the source option calibration to one of "
                          f"{list(CALIBRATIONS)}")
    return f"fr{match.group(1)}"


def read_sequence(folder: Path, calibration: str, max_difference_s: float) -> _Sequence:
    """Read a sequence's lists and associate its images with depth maps and poses."""
    rgb = read_timed_list(folder / "rgb.txt", LAYOUT)
    depth = read_timed_list(folder / "depth.txt", LAYOUT)
    rgb_rows, depth_rows = associate(rgb.times_s, depth.times_s, max_difference_s)
    depth_of_rgb = np.full(len(rgb), -1, dtype=np.int64)
    depth_of_rgb[rgb_rows] = depth_rows
    poses, pose_of_rgb = None, np.full(len(rgb), -1, dtype=np.int64)
    if (folder / "groundtruth.txt").is_file():
        truth_s, poses = read_trajectory(folder / "groundtruth.txt", LAYOUT)
        rows, pose_rows = associate(rgb.times_s, truth_s, max_difference_s)
        pose_of_rgb[rows] = pose_rows
    else:
        log.info("%s: no groundtruth.txt; frames have no pose", folder)
    keep = np.flatnonzero(depth_of_rgb >= 0)
    return _Sequence(folder, rgb, depth, depth_of_rgb, poses, pose_of_rgb,
                     sensor_calibration(folder, calibration), {rgb.stamps[i]: int(i) for i in keep})


def _camera(calibration: str, size: tuple[int, int], T_world_cam: np.ndarray, where: Path) -> Camera:
    (fx, fy, cx, cy), dist = CALIBRATIONS[calibration]
    model = "radtan" if any(dist) else "pinhole"
    try:
        return Camera.from_intrinsics(fx, fy, cx, cy, size[0], size[1], model=model,
                                      dist=dist if model == "radtan" else [], T_world_cam=T_world_cam)
    except CameraError as exc:
        raise SourceError(f"{where}: {exc}") from None


def _read_depth(path: Path, camera: Camera) -> np.ndarray:
    """(H, W) float32 metres of a TUM depth PNG; it must be 16-bit and the colour image's size (registered)."""
    raw = read_depth_png(path, LAYOUT, (camera.width, camera.height))
    return decode_depth(raw, DEPTH_UNITS_PER_M, DEPTH_NO_DATA, str(path))
