"""DepthLM's curated format: one line per image with all its labelled pixels.

The format of the DepthLM release (facebookresearch/DepthLM_Official,
``examples/ibims1/ibims1_val.jsonl``), which its training and evaluation code
(``utils/datasets.py``) reads with ``pandas.read_json(lines=True)``::

    {"image": "images/81/81f5221be5539ee2.jpg",        # relative to the image folder
     "intrinsics": [fx, fy, cx, cy, width, height],   # pixels, of that image
     "pixel_coords": [[u, v], ...],                    # integer (column, row), origin top-left
     "depth": [d, ...],                                # metres, one per pixel
     "frame_id": "...", "ids": ["<record id>", ...]}   # ours; the loader ignores them

Lines come from the ``distance`` records, grouped by frame (``provenance.frames[0]``);
other tasks have no place in this format. DepthLM draws its own arrow, so ``image`` is
the frame's UNMARKED normalised image, looked up in the build's ``frames.jsonl``; a build
without that index, or built with ``keep_unmarked_images: false``, cannot be exported.

Depth kind: variant ``range`` (default) writes ``range_m``, the Euclidean distance from
the camera centre, which is what the distance question asks; variant ``z`` writes
``z_m`` (distance along the optical axis) for code that expects z.

Image paths are relative to the build folder, always: the loader opens
``os.path.join(image_folder, image.lstrip("/"))``, which breaks absolute paths. Pass the
build folder as ``image_folder``. The images already have the unified focal length
(1000 px by default), so the loader's own focal normalisation leaves them unchanged. Its
evaluation dataset assumes every line has as many pixels as the first one.

Grouping streams: the records of a frame are consecutive in a build, so one group is
open at a time. Should a frame's records not be consecutive, the frame gets one line per
run, which the loader reads as separate images of the same picture.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

from datagen.records import FRAMES_INDEX
from datagen.writers import register
from datagen.writers.base import ExportError, Writer, malformed

DEPTH_KEYS = {"range": "range_m", "z": "z_m"}


class MissingFramesIndexError(ExportError):
    """The build has no frames.jsonl, or it lacks the unmarked image of a frame."""


class _FrameGroup:
    """The labelled pixels of one frame, collected from its consecutive distance records."""

    def __init__(self, frame_id: str, split: str, frame: dict) -> None:
        self.frame_id, self.split, self.frame = frame_id, split, frame
        self.pixels: list = []
        self.depth: list = []
        self.ids: list = []

    def add(self, record: dict, depth_key: str) -> None:
        label = record["label"]
        if len(label["pixels"]) != len(label[depth_key]):
            raise ValueError(f"label.pixels and label.{depth_key} differ in length")
        self.pixels += [[int(u), int(v)] for u, v in label["pixels"]]
        self.depth += [float(d) for d in label[depth_key]]
        self.ids.append(record["id"])

    def row(self) -> dict:
        return {"image": self.frame["image"], "intrinsics": self.frame["camera"], "pixel_coords": self.pixels,
                "depth": self.depth, "frame_id": self.frame_id, "ids": self.ids}


@register("depthlm")
class DepthLMWriter(Writer):
    """DepthLM curated JSONL: per frame, the unmarked image, intrinsics, pixels and depths."""

    name = "depthlm"
    variants = tuple(DEPTH_KEYS)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.depth_key = DEPTH_KEYS[self.variant]
        self.frames = self._read_frames_index()

    def _read_frames_index(self) -> dict[str, dict]:
        """frame_id -> {"image", "camera"} from frames.jsonl (only what this format needs)."""
        path = self.build_dir / FRAMES_INDEX
        if not path.is_file():
            raise MissingFramesIndexError(
                f"{path}: not found; the depthlm export needs the build's index of unmarked normalised "
                f"images ({FRAMES_INDEX}, written by `datagen build`); rebuild this folder with the current datagen")
        frames = {}
        with path.open(encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, 1):
                if line.strip():
                    frame_id, entry = self._frame_entry(path, line_number, line)
                    frames[frame_id] = entry
        return frames

    @staticmethod
    def _frame_entry(path: Path, line_number: int, line: str) -> tuple[str, dict]:
        try:
            entry = json.loads(line)
            return entry["frame_id"], {"image": entry["image"], "camera": entry["camera"]}
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise MissingFramesIndexError(f"{path}:{line_number}: expected a JSON object with frame_id, image "
                                          f"and camera ({exc})") from None

    def skip_reason(self, record: dict) -> tuple[str, str] | None:
        """A frame missing from frames.jsonl, or its unmarked image missing on disk."""
        frame_id = record["provenance"]["frames"][0]
        frame = self.frames.get(frame_id)
        if frame is None:
            return "frame_not_in_index", f"frame {frame_id} is not in {self.build_dir / FRAMES_INDEX}"
        if frame["image"] is None:
            raise MissingFramesIndexError(
                f"{self.build_dir / FRAMES_INDEX}: frame {frame_id} has no unmarked image (the build was made with "
                f"keep_unmarked_images: false); rebuild with keep_unmarked_images: true to export depthlm")
        if not os.path.isfile(self.image_file(frame["image"])):
            return "missing_image", f"unmarked image {frame['image']} of frame {frame_id} not found in {self.build_dir}"
        return None

    def rows(self, records: Iterable[dict]) -> Iterator[tuple[str, dict]]:
        """One row per run of consecutive distance records of the same frame."""
        group: _FrameGroup | None = None
        for record in records:
            if record.get("task") != "distance":
                continue
            try:
                group, done = self._add(group, record)
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise malformed(record, exc) from None
            if done is not None:
                yield done.split, done.row()
        if group is not None:
            yield group.split, group.row()

    def _add(self, group: _FrameGroup | None, record: dict) -> tuple[_FrameGroup | None, _FrameGroup | None]:
        """Add a record to the open group; return (open group, finished group or None)."""
        frame_id = record["provenance"]["frames"][0]
        done = None
        if group is not None and (group.frame_id != frame_id or group.split != record["split"]):
            group, done = None, group
        skip = self.skip_reason(record)
        if skip is not None:
            self.skip(record, *skip)
            return group, done
        if group is None:
            group = _FrameGroup(frame_id, record["split"], self.frames[frame_id])
        group.add(record, self.depth_key)
        return group, done

    def finish(self, files: dict[str, Path]) -> list[Path]:
        if files:
            self.report.notes.append(f"image_folder for DepthLM's loader: {self.build_dir}; "
                                     f"depth holds {self.depth_key} (metres)")
        return []
