"""Write nuScenes v1.0 tables for tests: the real mmdetection3d demo sample (scene-0061, keyframe
ca9a282c) placed in the official layout, with sweeps and extra scenes made up where a test needs them.

The demo has no tables, only mmdet3d's info pickle (``calib_derived_from_pkl.json``): ``lidar2ego``,
``ego2global`` (at the LiDAR's time), and per camera ``cam2ego``, ``cam2img`` and ``lidar2cam``.
mmdet3d built ``lidar2cam`` through the global frame with the ego pose at the camera's time, so
that pose is not in the pickle but follows from it:

    lidar2cam = inv(cam2ego) @ inv(ego2global_cam) @ ego2global @ lidar2ego
    =>  ego2global_cam = ego2global @ lidar2ego @ inv(lidar2cam) @ inv(cam2ego)

The tables carry both ego poses, so a reader that follows the devkit's chain reproduces
``lidar2cam`` (to the float32 rounding of the pickle).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

DEMO = "nuscenes_mmdet3d_demo/nuscenes"
SCENE = "scene-0061"
LOG = "n015-2018-07-24-11-22-45+0800"
CAMERAS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT")


def token(*parts: object) -> str:
    """A 32-hex-digit token, stable for the same parts."""
    return hashlib.md5("/".join(map(str, parts)).encode()).hexdigest()


def quaternion(T: np.ndarray) -> list[float]:
    """(w, x, y, z) of T's rotation (orthonormalised)."""
    x, y, z, w = Rotation.from_matrix(np.asarray(T)[:3, :3]).as_quat()
    return [float(w), float(x), float(y), float(z)]


def demo_calibration(shared_data: Path) -> dict:
    return json.loads((shared_data / DEMO / "calib_derived_from_pkl.json").read_text())["sample"]


def ego_pose_at_camera(sample: dict, channel: str) -> np.ndarray:
    """ego2global at the camera's time, from the pickle's lidar2cam (see the module docstring)."""
    image = sample["images"][channel]
    return (np.array(sample["ego2global"]) @ np.array(sample["lidar_points"]["lidar2ego"])
            @ np.linalg.inv(np.array(image["lidar2cam"])) @ np.linalg.inv(np.array(image["cam2ego"])))


class TableWriter:
    """Collects records of the nuScenes tables and writes them as the official JSON arrays."""

    def __init__(self) -> None:
        self.tables: dict[str, list] = {name: [] for name in ("sample_data", "calibrated_sensor", "ego_pose",
                                                              "sensor", "sample", "scene", "log")}

    def sensor(self, channel: str) -> str:
        tok = token("sensor", channel)
        if not any(r["token"] == tok for r in self.tables["sensor"]):
            modality = "lidar" if channel.startswith("LIDAR") else "camera"
            self.tables["sensor"].append({"token": tok, "channel": channel, "modality": modality})
        return tok

    def calibrated_sensor(self, channel: str, T_ego_sensor: np.ndarray, K=None, scene: str = SCENE) -> str:
        tok = token("cs", channel, scene)
        self.tables["calibrated_sensor"].append({
            "token": tok, "sensor_token": self.sensor(channel), "translation": np.asarray(T_ego_sensor)[:3, 3].tolist(),
            "rotation": quaternion(T_ego_sensor), "camera_intrinsic": [] if K is None else np.asarray(K).tolist()})
        return tok

    def ego_pose(self, T_global_ego: np.ndarray, timestamp_us: int) -> str:
        tok = token("ego", len(self.tables["ego_pose"]), timestamp_us)
        self.tables["ego_pose"].append({"token": tok, "timestamp": int(timestamp_us),
                                        "rotation": quaternion(T_global_ego),
                                        "translation": np.asarray(T_global_ego)[:3, 3].tolist()})
        return tok

    def scene(self, name: str, sample_tokens: list[str]) -> str:
        log_token = token("log", name)
        self.tables["log"].append({"token": log_token, "logfile": LOG, "vehicle": "n015", "date_captured": "2018-07-24",
                                   "location": "singapore-onenorth"})
        tok = token("scene", name)
        self.tables["scene"].append({"token": tok, "log_token": log_token, "nbr_samples": len(sample_tokens),
                                     "first_sample_token": sample_tokens[0], "last_sample_token": sample_tokens[-1],
                                     "name": name, "description": "test"})
        return tok

    def sample(self, tok: str, timestamp_us: int, scene_token: str) -> None:
        self.tables["sample"].append({"token": tok, "timestamp": int(timestamp_us), "prev": "", "next": "",
                                      "scene_token": scene_token})

    def sample_data(self, tok: str, sample_token: str, cs_token: str, ego_token: str, timestamp_us: int,
                    filename: str, key: bool, size=(0, 0)) -> None:
        self.tables["sample_data"].append({
            "token": tok, "sample_token": sample_token, "ego_pose_token": ego_token, "calibrated_sensor_token": cs_token,
            "timestamp": int(timestamp_us), "fileformat": filename.rsplit(".", 1)[-1], "is_key_frame": key,
            "height": size[1], "width": size[0], "filename": filename, "prev": "", "next": ""})

    def write(self, root: Path, version: str = "v1.0-mini") -> Path:
        folder = root / version
        folder.mkdir(parents=True, exist_ok=True)
        for name, records in self.tables.items():
            (folder / f"{name}.json").write_text(json.dumps(records, indent=0))
        return root


def link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.symlink(source, target)


def write_demo(root: Path, shared_data: Path, writer: TableWriter | None = None, scene: str = SCENE,
               sample_token: str | None = None, time_offset_us: int = 0) -> TableWriter:
    """The demo keyframe (LIDAR_TOP + six cameras) as one sample of ``scene``; returns the writer."""
    demo, sample = shared_data / DEMO, demo_calibration(shared_data)
    writer = writer or TableWriter()
    sample_token = sample_token or sample["token"]
    lidar = sample["lidar_points"]
    t_lidar = round(sample["timestamp"] * 1e6) + time_offset_us
    writer.sample(sample_token, t_lidar, writer.scene(scene, [sample_token]))
    cs = writer.calibrated_sensor("LIDAR_TOP", np.array(lidar["lidar2ego"]), scene=scene)
    name = f"samples/LIDAR_TOP/{Path(lidar['lidar_path']).name}"
    writer.sample_data(token("lidar", scene, t_lidar), sample_token, cs,
                       writer.ego_pose(np.array(sample["ego2global"]), t_lidar), t_lidar, name, True)
    link(demo / lidar["lidar_path"], root / name)
    for channel in CAMERAS:
        image = sample["images"][channel]
        t_cam = round(image["timestamp"] * 1e6) + time_offset_us
        cs = writer.calibrated_sensor(channel, np.array(image["cam2ego"]), image["cam2img"], scene=scene)
        name = f"samples/{channel}/{image['img_path']}"
        sd_token = image["sample_data_token"] if time_offset_us == 0 else token("cam", scene, channel)
        writer.sample_data(sd_token, sample_token, cs, writer.ego_pose(ego_pose_at_camera(sample, channel), t_cam),
                           t_cam, name, True, size=(1600, 900))
        link(demo / image["img_path"], root / name)
    return writer
