"""Microsoft 7-Scenes (Shotton et al. 2013): handheld Kinect v1 RGB-D sequences of seven rooms.

Layout, as unpacked from ``<scene>.zip`` and the ``seq-XX.zip`` inside it::

    chess/
      TrainSplit.txt  TestSplit.txt        lines "sequence1", "sequence3", ... (seq-01, seq-03)
      seq-01/frame-000000.color.png        640x480 colour
             frame-000000.depth.png        640x480 uint16 millimetres, 65535 = invalid
             frame-000000.pose.txt         4x4 camera-to-world, metres

``root`` is a folder of scene folders, or one scene folder. Facts (docs/sources/sevenscenes.md
cites them): the poses come from KinectFusion, which tracks the depth camera; the dataset
states that "the RGB and depth camera have not been calibrated" and gives only the depth
camera's intrinsics (principal point (320, 240), focal length 585). So the depth map is not
registered to the colour image, and no depth-to-colour calibration is published.

What this source does (``registration``):

* "kinect" (default): the depth map is back-projected with the published depth intrinsics,
  moved into the colour camera by a nominal Kinect v1 baseline ``T_COLOR_DEPTH`` and projected
  with nominal colour intrinsics (focal 525, principal point (320, 240)), through the
  pipeline's z-buffer; the colour camera's pose is the depth camera's moved by the same baseline.
* "none": the depth map is taken as a label map of the colour image with the depth intrinsics,
  as many RGB-D tools do with this dataset.

docs/sources/sevenscenes.md gives the measured alignment of both on the real sample.
Frame ids: ``sevenscenes/<scene>/seq-XX/<frame number>``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import SourceError
from datagen.geometry.se3 import invert, make_transform
from datagen.sources import register
from datagen.sources._cache import LruCache
from datagen.sources._io import image_size, read_depth_png, read_text
from datagen.sources._registration import (DepthRegistration, decode_depth, read_matrix, registered_points,
                                           rigid_transform)
from datagen.sources._tables import FrameTableBuilder, check_choice, check_root
from datagen.sources.base import FrameTable, Source
from datagen.types import Camera, Frame

log = logging.getLogger(__name__)

NAME = "sevenscenes"
LAYOUT = "7-Scenes layout: <scene>/seq-XX/frame-XXXXXX.{color.png,depth.png,pose.txt}"
SCENES = ("chess", "fire", "heads", "office", "pumpkin", "redkitchen", "stairs")
IMAGE_SIZE = (640, 480)
#: Depth PNG: millimetres along the optical axis; 65535 = invalid (0 is no measurement either).
DEPTH_UNITS_PER_M = 1000.0
DEPTH_NO_DATA = (0, 65535)
DEPTH_KIND = "z"
#: The dataset's depth-camera intrinsics ("principal point (320,240), focal length (585,585)").
DEPTH_INTRINSICS = (585.0, 585.0, 320.0, 240.0)
#: Nominal Kinect v1 colour intrinsics, as used for 7-Scenes colour images by DSAC* and by
#: Brachmann et al. (ICCV 2021), whose COLMAP reconstruction re-estimated 525.5 px.
COLOR_INTRINSICS = (525.0, 525.0, 320.0, 240.0)
#: Depth camera -> colour camera: the Kinect v1's IR-to-RGB baseline, about 2.5 cm along x.
T_COLOR_DEPTH = make_transform(np.eye(3), [-0.025, 0.0, 0.0])
REGISTRATIONS = ("kinect", "none")
SPLIT_FILES = {"train": "TrainSplit.txt", "test": "TestSplit.txt"}
_SPLIT_LINE = re.compile(r"^sequence(\d+)$")
_SEQUENCE_DIR = re.compile(r"^seq-(\d+)$")
_COLOR_FILE = re.compile(r"^frame-(\d+)\.color\.png$")


@register(NAME)
class SevenScenesSource(Source):
    """7-Scenes frames: colour image, depth map (registered per ``registration``), camera pose."""

    @dataclass(frozen=True)
    class Config:
        """Options of the sevenscenes source.

        Attributes:
            root: a folder of scene folders (chess, fire, ...) or one scene folder.
            registration: "kinect" (reproject the depth into the colour camera with nominal
                Kinect v1 calibration) or "none" (depth map as the colour image's labels).
        """

        root: Path | None = None
        registration: str = "kinect"

        def __post_init__(self) -> None:
            check_root(self, NAME, "a folder of scene folders")
            check_choice(NAME, "registration", self.registration, REGISTRATIONS)

    def __init__(self, config: "SevenScenesSource.Config | None" = None) -> None:
        super().__init__(config)
        self._splits_of_scene: LruCache[dict[str, str]] = LruCache(len(SCENES))

    def frame_table(self) -> FrameTable:
        table = FrameTableBuilder()
        for folder in scene_folders(self.config.root):
            split_of_sequence = read_splits(folder)
            for sequence_dir in sequence_dirs(folder):
                sequence = f"{folder.name}/{sequence_dir.name}"
                table.add_ids([f"{NAME}/{sequence}/{n}" for n in frame_numbers(sequence_dir)], sequence,
                              split_of_sequence.get(sequence_dir.name))
        return table.build()

    def load_frame(self, frame_id: str) -> Frame:
        scene_dir, sequence_dir, number = self._paths(frame_id)
        stem = sequence_dir / f"frame-{number}"
        color_path = Path(f"{stem}.color.png")
        if image_size(color_path, LAYOUT) != IMAGE_SIZE:
            raise SourceError(f"{color_path}: expected a {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} colour image ({LAYOUT})")
        depth = decode_depth(read_depth_png(Path(f"{stem}.depth.png"), LAYOUT, IMAGE_SIZE), DEPTH_UNITS_PER_M,
                             DEPTH_NO_DATA, f"{stem}.depth.png")
        T_world_depth = _read_pose(Path(f"{stem}.pose.txt"))
        split = self._splits(scene_dir).get(sequence_dir.name)
        meta = {"color": color_path.name, "registration": self.config.registration, "depth_from": "depth_map"}
        sequence = f"{scene_dir.name}/{sequence_dir.name}"
        if self.config.registration == "none":
            camera = Camera.from_intrinsics(*DEPTH_INTRINSICS, *IMAGE_SIZE, T_world_cam=T_world_depth)
            return Frame(frame_id=frame_id, source=NAME, camera=camera, image_path=color_path, depth_m=depth,
                         depth_kind=DEPTH_KIND, sequence=sequence, split=split, meta=meta)
        fields = registered_points(depth, kinect_registration(), f"{stem}.depth.png")
        camera = Camera.from_intrinsics(*COLOR_INTRINSICS, *IMAGE_SIZE,
                                        T_world_cam=T_world_depth @ invert(T_COLOR_DEPTH))
        return Frame(frame_id=frame_id, source=NAME, camera=camera, image_path=color_path,
                     points=fields["points"], T_cam_points=fields["T_cam_points"], sequence=sequence, split=split,
                     meta={**meta, **fields["meta"]})

    def _splits(self, scene_dir: Path) -> dict[str, str]:
        return self._splits_of_scene.get(scene_dir, lambda: read_splits(scene_dir))

    def _paths(self, frame_id: str) -> tuple[Path, Path, str]:
        parts = frame_id.split("/")
        if len(parts) != 4 or parts[0] != NAME or not parts[3].isdigit():
            raise SourceError(f"{self.config.root}: frame id {frame_id!r} is not "
                              f"{NAME}/<scene>/seq-XX/<frame number>")
        root = self.config.root
        scene_dir = root if _is_scene(root) and root.name == parts[1] else root / parts[1]
        return scene_dir, scene_dir / parts[2], parts[3]


def kinect_registration() -> DepthRegistration:
    """The depth camera as 7-Scenes publishes it, and the nominal baseline into the colour camera."""
    return DepthRegistration(Camera.from_intrinsics(*DEPTH_INTRINSICS, *IMAGE_SIZE), T_COLOR_DEPTH, DEPTH_KIND)


def _is_scene(folder: Path) -> bool:
    return folder.is_dir() and any(_SEQUENCE_DIR.match(p.name) and p.is_dir() for p in folder.iterdir())


def scene_folders(root: Path) -> list[Path]:
    """``root`` if it holds seq-XX folders, else its sub-folders that do, sorted by name."""
    if not root.is_dir():
        raise SourceError(f"{root}: not a folder ({LAYOUT})")
    if _is_scene(root):
        return [root]
    found = sorted(p for p in root.iterdir() if _is_scene(p))
    if not found:
        zipped = sorted(p.name for p in root.glob("*/seq-*.zip"))[:3]
        hint = f"; unzip the sequence archives first ({', '.join(zipped)})" if zipped else ""
        raise SourceError(f"{root}: no scene folder with seq-XX folders here or one level below ({LAYOUT}){hint}")
    return found


def sequence_dirs(scene: Path) -> list[Path]:
    return sorted((p for p in scene.iterdir() if p.is_dir() and _SEQUENCE_DIR.match(p.name)),
                  key=lambda p: int(_SEQUENCE_DIR.match(p.name).group(1)))


def frame_numbers(sequence_dir: Path) -> list[str]:
    """The frame numbers (as written, e.g. "000042") of a sequence's colour images, ascending."""
    numbers = [m.group(1) for m in map(_COLOR_FILE.match, (p.name for p in sequence_dir.iterdir())) if m]
    return sorted(numbers, key=int)


def read_splits(scene: Path) -> dict[str, str]:
    """seq-XX folder name -> "train"/"test" from the scene's TrainSplit.txt and TestSplit.txt."""
    out: dict[str, str] = {}
    for split, name in SPLIT_FILES.items():
        path = scene / name
        if not path.is_file():
            continue
        for number, line in enumerate(read_text(path, LAYOUT).splitlines(), start=1):
            if not line.strip():
                continue
            match = _SPLIT_LINE.match(line.strip())
            if match is None:
                raise SourceError(f"{path}:{number}: expected a line 'sequenceN', got {line.strip()[:40]!r}")
            out[f"seq-{int(match.group(1)):02d}"] = split
    return out


def _read_pose(path: Path) -> np.ndarray:
    """The 4x4 camera-to-world pose of the depth camera, metres."""
    return rigid_transform(read_matrix(path, (4, 4), LAYOUT), str(path), "camera-to-world pose")
