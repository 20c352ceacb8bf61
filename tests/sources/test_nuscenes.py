"""The nuscenes source: the real mmdetection3d demo keyframe written into v1.0 tables and checked label
by label against its own ``lidar2cam`` and ``cam2img`` (SOURCE.md), plus made-up sweeps, scenes and
versions in the official layout for the split, sweep and multi-sweep logic, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from datagen.errors import ConfigError, SourceError
from datagen.sources import REGISTRY
from datagen.sources.base import Selection
from datagen.sources.nuscenes import CAMERAS, NuScenesSource, SPLITS_FILE
from tests.sources.label_checks import build_records, check_labels, sampling
from tests.sources.nuscenes_files import (DEMO, SCENE, TableWriter, demo_calibration, ego_pose_at_camera, link,
                                          token, write_demo)


def source(root: Path, **options) -> NuScenesSource:
    return NuScenesSource(NuScenesSource.Config(root=root, **options))


def demo_points(shared_data: Path) -> np.ndarray:
    sample = demo_calibration(shared_data)
    return np.fromfile(shared_data / DEMO / sample["lidar_points"]["lidar_path"], dtype=np.float32).reshape(-1, 5)


def sourcemd_projection(shared_data: Path, channel: str) -> tuple[np.ndarray, np.ndarray]:
    """SOURCE.md's formula: p_cam = lidar2cam · p, [u z, v z, z] = cam2img · p_cam. Returns (uv, z)."""
    image = demo_calibration(shared_data)["images"][channel]
    p = demo_points(shared_data)[:, :3].astype(np.float64)
    p_cam = p @ np.array(image["lidar2cam"])[:3, :3].T + np.array(image["lidar2cam"])[:3, 3]
    uvz = p_cam @ np.array(image["cam2img"]).T
    return uvz[:, :2] / uvz[:, 2:3], uvz[:, 2]


@pytest.fixture
def demo_root(tmp_path, shared_data) -> Path:
    root = tmp_path / "nuscenes"
    write_demo(root, shared_data).write(root)
    return root


def test_registered_with_the_wide_see_through_window():
    assert REGISTRY.load_builtins().get("nuscenes") is NuScenesSource
    assert NuScenesSource.occlusion_defaults == {"window_px": 31}


def test_the_split_file_is_the_devkits_scene_split():
    splits = json.loads(SPLITS_FILE.read_text())
    assert [len(splits[k]) for k in ("train", "val", "test", "mini_train", "mini_val")] == [700, 150, 150, 8, 2]
    assert len(set(splits["train"] + splits["val"] + splits["test"])) == 1000
    assert set(splits["mini_train"] + splits["mini_val"]) <= set(splits["train"] + splits["val"])
    assert SCENE in splits["mini_train"] and "scene-0103" in splits["mini_val"]


def test_demo_tables_reproduce_the_pickles_lidar2cam(demo_root, shared_data):
    """The ego pose at each camera's time was derived from lidar2cam (tests/sources/nuscenes_files.py):
    the devkit's chain through both ego poses gives lidar2cam back, and the car moved about 9 m/s."""
    sample = demo_calibration(shared_data)
    nusc = source(demo_root)
    table = nusc.frame_table()
    assert sorted(table.camera) == sorted(CAMERAS) and set(table.split) == {"train"} and set(table.sequence) == {SCENE}
    for frame_id, channel in zip(table.frame_ids, table.camera):
        frame = nusc.load_frame(frame_id)
        image = sample["images"][channel]
        np.testing.assert_allclose(frame.T_cam_points, image["lidar2cam"], atol=1e-6)
        np.testing.assert_allclose(frame.camera.K, image["cam2img"], atol=1e-9)
        assert (frame.camera.width, frame.camera.height) == (1600, 900)
        moved = np.linalg.norm(ego_pose_at_camera(sample, channel)[:3, 3] - np.array(sample["ego2global"])[:3, 3])
        dt = sample["timestamp"] - image["timestamp"]
        assert moved == pytest.approx(9.3 * dt, abs=0.02)  # the pickle's lidar2cam holds the ego motion
        assert frame.meta["lidar_dt_s"] == pytest.approx(dt, abs=1e-6) and frame.split == "train"


def test_every_label_follows_lidar2cam_and_cam2img(demo_root, shared_data, tmp_path):
    records, manifest = build_records(tmp_path / "out", "nuscenes", demo_root, tasks=("distance",),
                                      sampling=sampling(25))
    assert manifest["frames"]["skipped"] == {} and len(records) == 6 * 25
    points = demo_points(shared_data)
    close = (np.abs(points[:, 0]) < 1.0) & (np.abs(points[:, 1]) < 1.0)  # the devkit's remove_close(1.0)
    for channel in CAMERAS:
        uv, z = sourcemd_projection(shared_data, channel)
        mine = [r for r in records if r["provenance"]["frames"][0].endswith(channel)]
        assert check_labels(mine, uv[~close], z[~close]) == 25
    assert {r["split"] for r in records} == {"train"} and {r["provenance"]["depth_from"] for r in records} == {"lidar"}


def test_cameras_and_splits_filter_and_the_version_is_found(tmp_path, shared_data):
    root = tmp_path / "nuscenes"
    writer = write_demo(root, shared_data)
    write_demo(root, shared_data, writer, scene="scene-0103", sample_token=token("sample", 2), time_offset_us=10**7)
    writer.write(root, "v1.0-mini")
    table = source(root).frame_table()
    assert len(table) == 12 and table.sequence.tolist() == [SCENE] * 6 + ["scene-0103"] * 6
    assert table.camera.tolist()[:6] == list(CAMERAS) or sorted(table.camera.tolist()[:6]) == sorted(CAMERAS)
    assert table.split.tolist() == ["train"] * 6 + ["val"] * 6  # mini_train / mini_val
    picked = Selection(cameras=("CAM_BACK",), splits=("val",)).apply(table, "nuscenes")
    assert [f.split("/")[1] + "/" + f.split("/")[3] for f in picked.frame_ids] == ["scene-0103/CAM_BACK"]
    writer.write(root, "v1.0-trainval")
    with pytest.raises(SourceError, match=r"expected one v1.0-\*/sample_data.json \(found v1.0-mini, v1.0-trainval\)"):
        source(root).frame_table()
    assert set(source(root, version="v1.0-trainval").frame_table().split) == {"train", "val"}
    with pytest.raises(SourceError, match="v1.0-test/sample_data.json: missing"):
        source(root, version="v1.0-test").frame_table()


def _add_sweeps(root: Path, shared_data: Path, writer: TableWriter, with_files: bool) -> None:
    """Camera sweeps of CAM_FRONT 30 and 80 ms after its keyframe image, and LiDAR sweeps 50 and 100 ms after
    the LiDAR keyframe (the demo's blob again), the car standing 0.5 m further east at each LiDAR sweep."""
    sample = demo_calibration(shared_data)
    lidar_cs = next(r["token"] for r in writer.tables["calibrated_sensor"] if r["sensor_token"] == writer.sensor("LIDAR_TOP"))
    cam_cs = next(r["token"] for r in writer.tables["calibrated_sensor"] if r["sensor_token"] == writer.sensor("CAM_FRONT"))
    t0 = round(sample["timestamp"] * 1e6)
    for k in (1, 2):
        pose = np.array(sample["ego2global"])
        pose[0, 3] += 0.5 * k
        name = f"sweeps/LIDAR_TOP/lidar_{k}.pcd.bin"
        writer.sample_data(token("lidar sweep", k), sample["token"], lidar_cs, writer.ego_pose(pose, t0 + 50_000 * k),
                           t0 + 50_000 * k, name, False)
        image = sample["images"]["CAM_FRONT"]
        t_cam = round(image["timestamp"] * 1e6) + (30_000, 80_000)[k - 1]
        cam_name = f"sweeps/CAM_FRONT/cam_{k}.jpg"
        writer.sample_data(token("cam sweep", k), sample["token"], cam_cs,
                           writer.ego_pose(ego_pose_at_camera(sample, "CAM_FRONT"), t_cam), t_cam, cam_name, False,
                           size=(1600, 900))
        link(shared_data / DEMO / image["img_path"], root / cam_name)
        if with_files:
            link(shared_data / DEMO / sample["lidar_points"]["lidar_path"], root / name)


def test_camera_sweeps_take_the_nearest_lidar_sweep(tmp_path, shared_data):
    root = tmp_path / "nuscenes"
    writer = write_demo(root, shared_data)
    _add_sweeps(root, shared_data, writer, with_files=True)
    writer.write(root)
    assert len(source(root).frame_table()) == 6
    table = source(root, sweeps=True).frame_table()
    assert len(table) == 8 and table.camera.tolist().count("CAM_FRONT") == 3
    sweeps = [f for f in table.frame_ids if token("cam sweep", 1) in f or token("cam sweep", 2) in f]
    # The LiDAR keyframe is 35.5 ms after the CAM_FRONT keyframe image: the sweep 30 ms after that image is
    # 5.5 ms from it; the one 80 ms after is 5.5 ms from the LiDAR sweep taken 50 ms after the keyframe.
    lidar = [source(root, sweeps=True).load_frame(f).meta["lidar"] for f in sweeps]
    assert lidar == [["samples/LIDAR_TOP/" + Path(demo_calibration(shared_data)["lidar_points"]["lidar_path"]).name],
                     ["sweeps/LIDAR_TOP/lidar_1.pcd.bin"]]


def test_earlier_lidar_sweeps_are_moved_with_their_own_ego_pose(tmp_path, shared_data):
    root = tmp_path / "nuscenes"
    writer = write_demo(root, shared_data)
    _add_sweeps(root, shared_data, writer, with_files=True)
    writer.write(root)
    frame_id = next(f for f in source(root, sweeps=True).frame_table().frame_ids if token("cam sweep", 2) in f)
    one = source(root, sweeps=True).load_frame(frame_id)
    two = source(root, sweeps=True, lidar_sweeps=2).load_frame(frame_id)
    assert two.meta["lidar"] == ["sweeps/LIDAR_TOP/lidar_1.pcd.bin", "samples/LIDAR_TOP/" +
                                 Path(demo_calibration(shared_data)["lidar_points"]["lidar_path"]).name]
    n = len(one.points)
    np.testing.assert_array_equal(two.points[:n], one.points)
    # The keyframe sweep was taken with the car 0.5 m further west: in the global frame its points
    # lie 0.5 m west of the same points of sweep 1 (the same blob).
    T_world_ref = one.camera.T_world_cam @ one.T_cam_points
    world_one = one.points.astype(np.float64) @ T_world_ref[:3, :3].T + T_world_ref[:3, 3]
    world_two = two.points[n:] @ T_world_ref[:3, :3].T + T_world_ref[:3, 3]
    np.testing.assert_allclose(world_two - world_one, np.tile([-0.5, 0, 0], (n, 1)), atol=1e-5)


def test_a_missing_sweep_says_the_root_has_no_sweeps(tmp_path, shared_data):
    root = tmp_path / "nuscenes"
    writer = write_demo(root, shared_data)
    _add_sweeps(root, shared_data, writer, with_files=False)
    writer.write(root)
    for path in (root / "sweeps").rglob("*"):
        if path.is_symlink():
            path.unlink()
    for folder in sorted((root / "sweeps").rglob("*"), reverse=True):
        folder.rmdir()
    (root / "sweeps").rmdir()
    frame_id = next(f for f in source(root, sweeps=True).frame_table().frame_ids if token("cam sweep", 2) in f)
    with pytest.raises(SourceError, match=r"^sweeps/LIDAR_TOP/lidar_1.pcd.bin: missing; this root looks like a "
                                          r"v1.0-mini download without sweeps"):
        source(root, sweeps=True).load_frame(frame_id)


def test_a_truncated_lidar_blob_is_skipped_and_counted(demo_root, tmp_path):
    blob = next((demo_root / "samples" / "LIDAR_TOP").iterdir())
    data = blob.read_bytes()
    blob.unlink()
    blob.write_bytes(data[:-8])
    with pytest.raises(SourceError, match=r"pcd\.bin: 173438 values of float32 is not a whole number of rows of 5"):
        source(demo_root).load_frame(source(demo_root).frame_table().frame_ids[0])
    records, manifest = build_records(tmp_path / "out", "nuscenes", demo_root, tasks=("distance",), frames=2,
                                      sampling=sampling(40))
    assert manifest["frames"]["skipped"] == {"source_error": 2} and records == []


@pytest.mark.parametrize("table, text, message", [
    ("sample_data", '[{"token": "a", "timestamp": "x"}]', r"sample_data\.json: JSON parse error"),
    ("ego_pose", "[{", r"ego_pose\.json: truncated"),
    ("scene", '{"token": "a"}', r"scene\.json: expected one JSON array of objects"),
])
def test_malformed_tables_name_the_file(demo_root, table, text, message):
    (demo_root / "v1.0-mini" / f"{table}.json").write_text(text)
    nusc = source(demo_root)
    with pytest.raises(SourceError, match=message):
        nusc.load_frame(nusc.frame_table().frame_ids[0])


def test_a_sample_data_naming_a_missing_ego_pose_names_both(demo_root):
    path = demo_root / "v1.0-mini" / "ego_pose.json"
    poses = json.loads(path.read_text())
    path.write_text(json.dumps(poses[1:]))
    nusc = source(demo_root)
    lidar_ego = poses[0]["token"]
    with pytest.raises(SourceError, match=rf"ego_pose\.json: no record '{lidar_ego}' \(named by sample_data"):
        nusc.load_frame(nusc.frame_table().frame_ids[0])
    with pytest.raises(SourceError, match="no CAM_BACK image with token 'nope'"):
        nusc.load_frame(f"nuscenes/{SCENE}/nope/CAM_BACK")


@pytest.mark.parametrize("options, field", [({"lidar_sweeps": 0}, "lidar_sweeps"), ({"sweeps": "yes"}, "sweeps"),
                                            ({"min_distance_m": -1}, "min_distance_m"), ({"version": "a/b"}, "version")])
def test_options_are_checked(tmp_path, options, field):
    with pytest.raises(ConfigError, match=field):
        source(tmp_path, **options)
