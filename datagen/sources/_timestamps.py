"""Timestamped file lists, TUM trajectories, and their association, as TUM RGB-D's ``associate.py`` does it.

TUM RGB-D lists its images and poses as text files of ``timestamp data...`` lines
(``rgb.txt``, ``depth.txt``, ``groundtruth.txt``; ``#`` starts a comment). Two lists are
associated by taking every pair of timestamps closer than ``max_difference_s``, sorting
those pairs by their difference, and keeping a pair when neither timestamp is already
used: each entry is matched at most once, to its nearest free partner.

A trajectory in TUM's format (``groundtruth.txt``, and the poses file of the rgbd source)
holds ``timestamp tx ty tz qx qy qz qw`` per line: the camera's optical centre in metres and
its orientation as a unit quaternion, scalar last, camera-to-world (TUM's file-formats page).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datagen.errors import SourceError
from datagen.geometry.se3 import pose_from_quaternion
from datagen.sources._io import read_text

#: TUM's associate.py default: timestamps further apart than this (seconds) are not matched.
MAX_DIFFERENCE_S = 0.02
#: A trajectory line after its timestamp: tx ty tz (metres), qx qy qz qw (scalar last).
TRAJECTORY_FIELDS = 7
TRAJECTORY_QUATERNION_ORDER = "xyzw"


@dataclass(frozen=True, eq=False)
class TimedList:
    """The lines of a timestamped list file, in file order.

    Attributes:
        path: the file.
        stamps: (N,) the timestamps as written (kept as text for stable frame ids).
        times_s: (N,) float64 seconds.
        fields: N lists of the words after the timestamp.
        lines: (N,) 1-based line numbers, for error messages.
    """

    path: Path
    stamps: np.ndarray
    times_s: np.ndarray
    fields: list
    lines: np.ndarray

    def __len__(self) -> int:
        return len(self.times_s)


def read_timed_list(path: Path, layout: str, min_fields: int = 1) -> TimedList:
    """Read a ``timestamp data...`` list; commas and tabs separate words as in associate.py.

    Raises:
        SourceError: the file is missing, or a line has a timestamp that is not a number or
            fewer than ``min_fields`` words after it (the message names the line).
    """
    stamps, times, fields, lines = [], [], [], []
    for number, line in enumerate(read_text(path, layout).splitlines(), start=1):
        words = line.replace(",", " ").replace("\t", " ").split()
        if not words or words[0].startswith("#"):
            continue
        try:
            time_s = float(words[0])
        except ValueError:
            raise SourceError(f"{path}:{number}: timestamp must be a number, got {words[0]!r} ({layout})") from None
        if len(words) - 1 < min_fields:
            raise SourceError(f"{path}:{number}: expected a timestamp and {min_fields} value(s), got "
                              f"{line.strip()[:80]!r} ({layout})")
        stamps.append(words[0])
        times.append(time_s)
        fields.append(words[1:])
        lines.append(number)
    return TimedList(Path(path), np.array(stamps, dtype=object), np.array(times, dtype=np.float64), fields,
                     np.array(lines, dtype=np.int64))


def read_trajectory(path: Path, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """(N,) times in seconds and (N, 4, 4) camera-to-world poses of a TUM-format trajectory file.

    Raises:
        SourceError: a line without 7 finite numbers after its timestamp, or whose quaternion is
            not (close to) a unit one; the message names the file and line.
    """
    lines = read_timed_list(path, layout, min_fields=TRAJECTORY_FIELDS)
    poses = np.empty((len(lines), 4, 4))
    for row, words in enumerate(lines.fields):
        where = f"{path}:{lines.lines[row]}"
        try:
            values = np.array([float(w) for w in words[:TRAJECTORY_FIELDS]])
        except ValueError:
            raise SourceError(f"{where}: pose must be 7 numbers tx ty tz qx qy qz qw, got {words}") from None
        if len(words) != TRAJECTORY_FIELDS or not np.all(np.isfinite(values)) or np.linalg.norm(values[3:]) < 0.5:
            raise SourceError(f"{where}: pose must be 7 finite numbers tx ty tz qx qy qz qw with a unit "
                              f"quaternion, got {words}")
        poses[row] = pose_from_quaternion(values[3:], values[:3], order=TRAJECTORY_QUATERNION_ORDER)
    return lines.times_s, poses


def associate(first_s: np.ndarray, second_s: np.ndarray, max_difference_s: float = MAX_DIFFERENCE_S,
              offset_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Match two timestamp lists one to one, nearest pairs first (TUM's associate.py).

    Args:
        first_s: (N,) float seconds.
        second_s: (M,) float seconds.
        max_difference_s: pairs with ``|a - (b + offset_s)| >= max_difference_s`` are not matched.
        offset_s: added to the second list's times.

    Returns:
        (K,) indices into ``first_s`` in ascending time, and (K,) matching indices into ``second_s``.
    """
    first_s, second = np.asarray(first_s, dtype=np.float64), np.asarray(second_s, dtype=np.float64) + offset_s
    order = np.argsort(second, kind="stable")
    lo = np.searchsorted(second[order], first_s - max_difference_s, side="left")
    hi = np.searchsorted(second[order], first_s + max_difference_s, side="right")
    counts = hi - lo
    a = np.repeat(np.arange(len(first_s)), counts)
    b = order[np.concatenate([np.arange(s, e) for s, e in zip(lo, hi)]).astype(np.int64)] if len(a) else a
    difference = np.abs(first_s[a] - second[b])
    keep = difference < max_difference_s
    a, b, difference = a[keep], b[keep], difference[keep]
    # associate.py sorts (difference, a, b) tuples of timestamps: ties go to the earlier times.
    ranked = np.lexsort((second[b], first_s[a], difference))
    used_a, used_b, pairs = set(), set(), []
    for k in ranked:
        if a[k] not in used_a and b[k] not in used_b:
            used_a.add(a[k])
            used_b.add(b[k])
            pairs.append((a[k], b[k]))
    pairs.sort(key=lambda p: (first_s[p[0]], p[0]))
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    matched = np.array(pairs, dtype=np.int64)
    return matched[:, 0], matched[:, 1]
