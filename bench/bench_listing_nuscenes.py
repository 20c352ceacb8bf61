"""Listing and first-frame time and peak memory of the nuscenes source on tables of v1.0-trainval's size.

Run by hand: ``python bench/bench_listing_nuscenes.py [--data DIR] [--keep]``. It writes a synthetic
v1.0-trainval table set (row counts of the real one: 850 scenes, 34,149 samples, 2,631,083
sample_data and as many ego_pose records, 10,200 calibrated sensors, 12 sensors, 68 logs; files
pretty-printed like the official ones, about 2.1 GB) plus the image and LiDAR blob of the first
keyframe, then in a fresh interpreter times ``frame_table()`` (keyframes, then with ``sweeps``)
and ``load_frame`` of the first frame, and reports the process's peak resident memory.
The target (issue): under 60 s and 4 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SCENES, SAMPLES, LOGS = 850, 34_149, 68
CAMERAS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT")
RADARS = ("RADAR_FRONT", "RADAR_FRONT_LEFT", "RADAR_FRONT_RIGHT", "RADAR_BACK_LEFT", "RADAR_BACK_RIGHT")
#: sample_data per sample and channel (keyframe + sweeps): cameras 12 Hz, LiDAR 20 Hz, radars 13 Hz, at 2 Hz samples.
PER_SAMPLE = {**{c: 6 for c in CAMERAS}, "LIDAR_TOP": 10, **{r: 7 for r in RADARS}}
SAMPLE_DATA = 2_631_083


def tok(kind: int, i: int) -> str:
    """A unique 32-hex-digit token, scattered (not in row order) like the real random ones."""
    return f"{(kind * 10**9 + i) * 0x9E3779B97F4A7C15 % 16**32:032x}"


def write_tables(folder: Path) -> str:
    """The table set; returns the first camera keyframe's filename."""
    version = folder / "v1.0-trainval"
    version.mkdir(parents=True, exist_ok=True)
    channels = list(PER_SAMPLE)
    dump = lambda name, rows: (version / f"{name}.json").write_text(json.dumps(rows, indent=0))  # noqa: E731
    dump("sensor", [{"token": tok(1, i), "channel": c, "modality": "camera" if c.startswith("CAM") else
                     ("lidar" if c.startswith("LIDAR") else "radar")} for i, c in enumerate(channels)])
    dump("log", [{"token": tok(2, i), "logfile": f"log-{i}", "vehicle": "n015", "date_captured": "2018-07-24",
                  "location": "singapore-onenorth"} for i in range(LOGS)])
    dump("scene", [{"token": tok(3, i), "log_token": tok(2, i % LOGS), "nbr_samples": 40, "first_sample_token": "",
                    "last_sample_token": "", "name": f"scene-{i + 1:04d}", "description": "synthetic"}
                   for i in range(SCENES)])
    scene_of_sample = np.arange(SAMPLES) * SCENES // SAMPLES
    dump("sample", [{"token": tok(4, i), "timestamp": 1532402927600000 + 500_000 * i, "prev": "", "next": "",
                     "scene_token": tok(3, int(scene_of_sample[i]))} for i in range(SAMPLES)])
    K = [[1266.4, 0.0, 816.3], [0.0, 1266.4, 491.5], [0.0, 0.0, 1.0]]
    dump("calibrated_sensor", [{"token": tok(5, s * 12 + c), "sensor_token": tok(1, c),
                                "translation": [1.7, 0.0, 1.5], "rotation": [0.5, -0.5, 0.5, -0.5],
                                "camera_intrinsic": K if channels[c].startswith("CAM") else []}
                               for s in range(SCENES) for c in range(12)])
    return _write_sample_data_and_poses(version, scene_of_sample)


def _write_sample_data_and_poses(version: Path, scene_of_sample: np.ndarray) -> str:
    channels = list(PER_SAMPLE)
    first = None
    with open(version / "sample_data.json", "w") as sd, open(version / "ego_pose.json", "w") as ego:
        sd.write("[\n")
        ego.write("[\n")
        row = 0
        for i in range(SAMPLES):
            scene = int(scene_of_sample[i])
            for c, channel in enumerate(channels):
                for k in range(PER_SAMPLE[channel]):
                    if row >= SAMPLE_DATA:
                        break
                    t = 1532402927600000 + 500_000 * i + k * 500_000 // PER_SAMPLE[channel] + 7_000 * c
                    folder = "samples" if k == 0 else "sweeps"
                    ext = "jpg" if channel.startswith("CAM") else "pcd.bin" if channel == "LIDAR_TOP" else "pcd"
                    name = f"{folder}/{channel}/n015-2018-07-24-11-22-45+0800__{channel}__{t}.{ext}"
                    first = first or (name if channel.startswith("CAM") else None)
                    sep = ",\n" if row else ""
                    sd.write(f'{sep}{{\n"token": "{tok(6, row)}",\n"sample_token": "{tok(4, i)}",\n'
                             f'"ego_pose_token": "{tok(7, row)}",\n"calibrated_sensor_token": "{tok(5, scene * 12 + c)}",\n'
                             f'"timestamp": {t},\n"fileformat": "{ext}",\n"is_key_frame": {"true" if k == 0 else "false"},\n'
                             f'"height": {900 if ext == "jpg" else 0},\n"width": {1600 if ext == "jpg" else 0},\n'
                             f'"filename": "{name}",\n"prev": "{tok(6, row - 1) if k else ""}",\n"next": ""\n}}')
                    ego.write(f'{sep}{{\n"token": "{tok(7, row)}",\n"timestamp": {t},\n"rotation": [\n'
                              f'{0.5720320396729045 + row * 1e-9!r},\n-0.0013559236555399,\n0.012704034831964,\n'
                              f'-0.8201667112327844\n],\n"translation": [\n{411.3039349319818 + row * 1e-3!r},\n'
                              f'1180.8903791765097,\n0.0\n]\n}}')
                    row += 1
        sd.write("\n]")
        ego.write("\n]")
    return first


def write_blobs(folder: Path, camera_file: str) -> None:
    """The first keyframe's image and its sample's LiDAR blob."""
    from PIL import Image

    (folder / camera_file).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((900, 1600, 3), dtype=np.uint8)).save(folder / camera_file)
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(-40, 40, (34_688, 3)), rng.uniform(0, 255, (34_688, 2))]).astype(np.float32)
    t = int(camera_file.rsplit("__", 1)[1].split(".")[0])  # the LiDAR keyframe follows 6 channels later
    lidar = folder / f"samples/LIDAR_TOP/n015-2018-07-24-11-22-45+0800__LIDAR_TOP__{t + 7_000 * 6}.pcd.bin"
    lidar.parent.mkdir(parents=True, exist_ok=True)
    points.tofile(lidar)


MEASURE = """
import json, resource, sys, time
from datagen.sources.nuscenes import NuScenesSource
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
root, sweeps = sys.argv[1], sys.argv[2] == "1"
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
started, cpu0 = time.perf_counter(), cpu()
source = NuScenesSource(NuScenesSource.Config(root=root, sweeps=sweeps))
table = source.frame_table()
listed, cpu1 = time.perf_counter() - started, cpu()
frame = source.load_frame(table.frame_ids[0])
loaded, cpu2 = time.perf_counter() - started - listed, cpu()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"frames": len(table), "list_s": listed, "first_frame_s": loaded, "peak_gb": peak,
                  "list_cpu_s": cpu1 - cpu0, "first_frame_cpu_s": cpu2 - cpu1,
                  "import_peak_gb": base, "points": len(frame.points)}))
"""


def measure(root: Path, sweeps: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, str(root), "1" if sweeps else "0"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder for the synthetic tables (reused if already there)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp)
        if not (root / "v1.0-trainval" / "ego_pose.json").is_file():
            write_blobs(root, write_tables(root))
        sizes = {p.name: p.stat().st_size / 1e9 for p in (root / "v1.0-trainval").glob("*.json")}
        print(f"tables: sample_data.json {sizes['sample_data.json']:.2f} GB, ego_pose.json {sizes['ego_pose.json']:.2f} GB")
        print(f"{'frames':>16} {'listed':>8} {'list s':>7} {'1st frame s':>11} {'total s':>8} {'CPU s':>6} "
              f"{'peak GB':>8}")
        for sweeps in (False, True):
            r = measure(root, sweeps)
            name = "camera sweeps" if sweeps else "keyframes"
            print(f"{name:>16} {r['frames']:>8} {r['list_s']:>7.1f} {r['first_frame_s']:>11.1f} "
                  f"{r['list_s'] + r['first_frame_s']:>8.1f} {r['list_cpu_s'] + r['first_frame_cpu_s']:>6.1f} "
                  f"{r['peak_gb']:>8.2f}")
        print(f"(peak after imports alone: {r['import_peak_gb']:.2f} GB; CPU s: user + system time of all the "
              f"process's threads; on a busy machine the wall time is longer)")
        print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
