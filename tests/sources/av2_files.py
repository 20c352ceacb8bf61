"""An Argoverse 2 Sensor log in the official layout, from the real sample plus images it lacks.

The shared sample (``av2_sensor_av2api``) has one real sweep, the calibration and the city poses
of log 7fab2350-... but no camera image (none is public). ``write_log`` copies those files into
``<root>/sensor/<split>/<log_id>/`` and writes JPEG images of the calibrated sizes, named by
timestamps taken from the pose table, so the whole layout can be read end to end.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow.feather as feather
from PIL import Image

LOG_ID = "7fab2350-7eaf-3b7e-a39d-6937a4c1bede"
SWEEP_NS = 315966265259836000
SAMPLE = Path("av2_sensor_av2api") / "sensor" / "val" / LOG_ID

#: Image times after the sweep, ns: pose rows of the log at about the time the LiDAR sweeps
#: through each camera's view (measured from the sweep's offset_ns of the points in view).
CAMERA_OFFSETS_NS = {"ring_front_center": 40091214, "ring_front_left": 27589444, "ring_front_right": 52615242,
                     "ring_side_left": 12576938, "ring_side_right": 67646497, "ring_rear_left": 97589436,
                     "ring_rear_right": 82605193}


def sample_log(shared_data: Path) -> Path:
    return shared_data / SAMPLE


def pose_times(log: Path) -> np.ndarray:
    """(N,) int64 timestamps of the log's pose table."""
    return feather.read_table(log / "city_SE3_egovehicle.feather").column("timestamp_ns").to_numpy()


def nearest_pose_time(log: Path, t_ns: int) -> int:
    times = pose_times(log)
    return int(times[np.argmin(np.abs(times - t_ns))])


def intrinsics(log: Path) -> dict:
    table = feather.read_table(log / "calibration" / "intrinsics.feather").to_pylist()
    return {row["sensor_name"]: row for row in table}


def picture(width: int, height: int, seed: int = 0) -> Image.Image:
    """A grey picture of ``width`` x ``height`` px with faint blotches (compresses well, labels show on it)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(70, 110, size=(max(height // 64, 2), max(width // 64, 2)), dtype=np.uint8)
    return Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR).convert("RGB")


def write_log(shared_data: Path, root: Path, split: str = "val", images: dict | None = None,
              extra_sweeps_ns: tuple = ()) -> Path:
    """Copy the sample log under ``root/sensor/<split>/`` and write its camera images.

    Args:
        images: camera name -> list of image timestamps (ns); default: one image per ring camera
            at the pose time nearest ``SWEEP_NS + CAMERA_OFFSETS_NS[camera]``.
        extra_sweeps_ns: further sweep timestamps, written as copies of the real sweep.

    Returns:
        The log folder.
    """
    source = sample_log(shared_data)
    log = root / "sensor" / split / LOG_ID
    (log / "calibration").mkdir(parents=True, exist_ok=True)
    (log / "sensors" / "lidar").mkdir(parents=True, exist_ok=True)
    for name in ("calibration/egovehicle_SE3_sensor.feather", "calibration/intrinsics.feather",
                 "city_SE3_egovehicle.feather", f"sensors/lidar/{SWEEP_NS}.feather"):
        shutil.copyfile(source / name, log / name)
    for t_ns in extra_sweeps_ns:
        shutil.copyfile(source / f"sensors/lidar/{SWEEP_NS}.feather", log / f"sensors/lidar/{t_ns}.feather")
    if images is None:
        images = {cam: [nearest_pose_time(source, SWEEP_NS + offset)] for cam, offset in CAMERA_OFFSETS_NS.items()}
    sizes = intrinsics(source)
    for index, (camera, stamps) in enumerate(images.items()):
        folder = log / "sensors" / "cameras" / camera
        folder.mkdir(parents=True, exist_ok=True)
        image = picture(sizes[camera]["width_px"], sizes[camera]["height_px"], seed=index)
        for t_ns in stamps:
            image.save(folder / f"{t_ns}.jpg", quality=85)
    return log
