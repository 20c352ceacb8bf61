"""The scannet source: exported scenes and raw .sens files, written here from real RGB-D frames.

The .sens writer below follows ScanNet's SensorData.h (``writeHeaderToFile``, ``RGBDFrame::
saveToFile``, ``writeIMUFramesToFile``); the exported layout follows SensReader's reader.py.
The frames are real: 7-Scenes colour (stretched to ScanNet's 1296x968), depth and poses, with
ScanNet's typical colour and depth intrinsics.
"""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datagen.errors import ConfigError, SourceError
from datagen.sources import REGISTRY
from datagen.sources.scannet import ScanNetSource
from tests.sources.depth_checks import check_reprojected_labels
from tests.sources.label_checks import build_records

SCENE = "scene0000_00"
COLOR_SIZE, DEPTH_SIZE = (1296, 968), (640, 480)
COLOR_K = np.array([[1169.621094, 0, 646.295044], [0, 1167.105103, 489.927032], [0, 0, 1]])
DEPTH_K = np.array([[577.590698, 0, 318.905426], [0, 578.729797, 242.683609], [0, 0, 1]])
SAMPLE_FRAMES = ("000000", "000060", "000030")  # frame 2 gets an unknown (-inf) pose


def _as4(K: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = K
    return out


def _extrinsic_depth() -> np.ndarray:
    """A depth extrinsic that is not the identity: 1 degree about y and 3 cm along x."""
    a = np.radians(1.0)
    T = np.eye(4)
    T[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    T[:3, 3] = [0.03, -0.004, 0.002]
    return T


@pytest.fixture
def frames(shared_data) -> list[dict]:
    sample = shared_data / "7scenes_tsdffusion" / "data"
    out = []
    for k, number in enumerate(SAMPLE_FRAMES):
        colour = Image.open(sample / f"frame-{number}.color.jpg").convert("RGB").resize(COLOR_SIZE)
        jpeg = io.BytesIO()
        colour.save(jpeg, format="JPEG", quality=90)
        pose = np.loadtxt(sample / f"frame-{number}.pose.txt").astype(np.float32)
        if k == 2:
            pose = np.full((4, 4), -np.inf, dtype=np.float32)
        depth = np.asarray(Image.open(sample / f"frame-{number}.depth.png")).astype(np.uint16)
        out.append({"jpeg": jpeg.getvalue(), "depth": depth, "pose": pose, "t_color": 1_000_000 + 33_333 * k,
                    "t_depth": 1_000_100 + 33_333 * k})
    return out


def write_sens(path: Path, frames: list[dict], extrinsic_depth: np.ndarray, version: int = 4) -> None:
    """A .sens file as SensorData.h writes it (version, name, calibrations, formats, frames, IMU)."""
    name = b"StructureSensor"
    with path.open("wb") as out:
        out.write(struct.pack("<IQ", version, len(name)) + name)
        for matrix in (_as4(COLOR_K), np.eye(4), _as4(DEPTH_K), extrinsic_depth):
            out.write(np.asarray(matrix, dtype="<f4").tobytes())  # mat4f, row-major
        out.write(struct.pack("<ii4If", 2, 1, *COLOR_SIZE, *DEPTH_SIZE, 1000.0))
        out.write(struct.pack("<Q", len(frames)))
        for frame in frames:
            depth = zlib.compress(frame["depth"].astype("<u2").tobytes())
            out.write(np.asarray(frame["pose"], dtype="<f4").tobytes())
            out.write(struct.pack("<4Q", frame["t_color"], frame["t_depth"], len(frame["jpeg"]), len(depth)))
            out.write(frame["jpeg"] + depth)
        out.write(struct.pack("<Q", 0))  # no IMU frames


def write_exported(folder: Path, frames: list[dict], extrinsic_depth: np.ndarray) -> None:
    """The folders reader.py --export_* writes: color/<i>.jpg, depth/<i>.png, pose/<i>.txt, intrinsic/."""
    for sub in ("color", "depth", "pose", "intrinsic"):
        (folder / sub).mkdir(parents=True)
    for i, frame in enumerate(frames):
        (folder / "color" / f"{i}.jpg").write_bytes(frame["jpeg"])
        Image.fromarray(frame["depth"]).save(folder / "depth" / f"{i}.png")
        np.savetxt(folder / "pose" / f"{i}.txt", frame["pose"], fmt="%f")
    for name, matrix in (("intrinsic_color", _as4(COLOR_K)), ("extrinsic_color", np.eye(4)),
                         ("intrinsic_depth", _as4(DEPTH_K)), ("extrinsic_depth", extrinsic_depth)):
        np.savetxt(folder / "intrinsic" / f"{name}.txt", matrix.astype(np.float32), fmt="%f")


@pytest.fixture
def sens_root(tmp_path, frames) -> Path:
    scene = tmp_path / "scannet" / "scans" / SCENE
    scene.mkdir(parents=True)
    write_sens(scene / f"{SCENE}.sens", frames, _extrinsic_depth())
    return tmp_path / "scannet"


@pytest.fixture
def exported_root(tmp_path, frames) -> Path:
    write_exported(tmp_path / "exported" / SCENE, frames, _extrinsic_depth())
    return tmp_path / "exported"


def _source(root: Path, **options) -> ScanNetSource:
    return ScanNetSource(ScanNetSource.Config(root=root, **options))


def _colour_points(frame: dict) -> np.ndarray:
    """Depth pixels back-projected with the depth K, moved by extrinsic_color^-1 @ extrinsic_depth."""
    depth = frame["depth"].astype(np.float64) / 1000.0
    v, u = np.nonzero(depth > 0)
    z = depth[v, u]
    points = np.column_stack([(u - DEPTH_K[0, 2]) / DEPTH_K[0, 0] * z, (v - DEPTH_K[1, 2]) / DEPTH_K[1, 1] * z, z])
    T = np.asarray(_extrinsic_depth(), dtype=np.float32).astype(np.float64)  # as stored (float32)
    return points @ T[:3, :3].T + T[:3, 3]


def test_registered_and_both_layouts_list_the_same_frames(sens_root, exported_root):
    assert REGISTRY.load_builtins().get("scannet") is ScanNetSource
    expected = [f"scannet/{SCENE}/{i:06d}" for i in range(3)]
    assert _source(sens_root).frame_ids() == expected
    assert _source(exported_root).frame_ids() == expected
    assert _source(exported_root / SCENE).frame_ids() == expected


def test_sens_and_exported_frames_agree(sens_root, exported_root, frames):
    for i in range(3):
        a = _source(sens_root).load_frame(f"scannet/{SCENE}/{i:06d}")
        b = _source(exported_root).load_frame(f"scannet/{SCENE}/{i:06d}")
        np.testing.assert_allclose(a.points, b.points, rtol=1e-6)  # K stored as float32 vs "%f" text
        np.testing.assert_allclose(a.T_cam_points, b.T_cam_points, atol=1e-6)
        np.testing.assert_allclose(a.camera.K, b.camera.K, atol=1e-6)
        np.testing.assert_allclose(a.camera.T_world_cam, b.camera.T_world_cam, atol=1e-5)
        assert a.image_path is None and b.image is None
        np.testing.assert_array_equal(a.image, np.asarray(Image.open(io.BytesIO(frames[i]["jpeg"])).convert("RGB")))
        assert a.timestamp_s == pytest.approx(frames[i]["t_color"] * 1e-6)
        assert a.meta["points_from"] == "depth_map" and a.meta["pose_known"] == (i != 2)


@pytest.mark.parametrize("layout", ["sens", "exported"])
def test_every_label_is_a_depth_point_moved_into_the_colour_camera(layout, sens_root, exported_root, frames,
                                                                   tmp_path):
    root = sens_root if layout == "sens" else exported_root
    records, manifest = build_records(tmp_path / "out", "scannet", root,
                                      sampling={"points_per_frame": 6, "pairs_per_frame": 2})
    assert manifest["frames"]["skipped"] == {} and records
    points = {f"scannet/{SCENE}/{i:06d}": _colour_points(frames[i]) for i in range(3)}
    n = check_reprojected_labels(records, points, COLOR_K, tolerance_m=2e-6)
    assert n == sum(len(r["label"]["z_m"]) for r in records) and n > 10


def test_pose_task_skips_unknown_poses_and_matches_the_pose_files(exported_root, frames, tmp_path):
    records, _ = build_records(tmp_path / "out", "scannet", exported_root, tasks=("pose",))
    assert records
    for record in records:
        indices = [int(f.rsplit("/", 1)[1]) for f in record["provenance"]["frames"]]
        assert 2 not in indices
        first, second = (frames[i]["pose"].astype(np.float64) for i in indices)
        expected = (np.linalg.inv(first) @ second)[:3, 3]
        np.testing.assert_allclose(record["label"]["translation_m"], expected, atol=1e-4)


def test_official_split_lists(exported_root):
    shutil.copytree(exported_root / SCENE, exported_root / "scene0001_00")
    (exported_root / "scannetv2_train.txt").write_text(f"{SCENE}\n")
    (exported_root / "scannetv2_val.txt").write_text("scene0001_00\n")
    table = _source(exported_root).frame_table()
    assert table.split.tolist() == ["train"] * 3 + ["val"] * 3
    assert _source(exported_root).load_frame(f"scannet/scene0001_00/{0:06d}").split == "val"
    lists = exported_root / "lists"
    lists.mkdir()
    (exported_root / "scannetv2_val.txt").rename(lists / "scannetv2_val.txt")
    assert _source(exported_root, split_dir=lists).frame_table().split.tolist() == [""] * 3 + ["val"] * 3
    (lists / "scannetv2_val.txt").write_text("scene0001_00\nscene 1\n")
    with pytest.raises(SourceError, match="scannetv2_val.txt:2: expected a scene id"):
        _source(exported_root, split_dir=lists).frame_table()


def test_truncated_or_foreign_sens_files_name_the_file(sens_root, frames, tmp_path):
    path = sens_root / "scans" / SCENE / f"{SCENE}.sens"
    data = path.read_bytes()
    path.write_bytes(data[:-3000])
    source = _source(sens_root)
    assert len(source.frame_ids()) == 3
    with pytest.raises(SourceError, match=rf"{SCENE}.sens: frame at byte \d+ runs past the end of the file"):
        source.load_frame(f"scannet/{SCENE}/000002")
    assert source.load_frame(f"scannet/{SCENE}/000000").points.shape[1] == 3
    _, manifest = build_records(tmp_path / "out", "scannet", sens_root)
    assert manifest["frames"]["skipped"] == {"source_error": 1}
    path.write_bytes(data[:200])
    with pytest.raises(SourceError, match=rf"{SCENE}.sens: truncated in the calibration"):
        _source(sens_root).frame_ids()
    write_sens(path, frames, np.eye(4), version=3)
    with pytest.raises(SourceError, match=rf"{SCENE}.sens: .sens version 3, expected 4"):
        _source(sens_root).frame_ids()
    broken = [dict(frames[0], depth=frames[0]["depth"][:10])]
    write_sens(path, broken, np.eye(4))
    with pytest.raises(SourceError, match=r"frame 0: depth of 12800 bytes, expected 640x480 uint16"):
        _source(sens_root).load_frame(f"scannet/{SCENE}/000000")


def test_bad_exported_files_name_the_file(exported_root):
    scene = exported_root / SCENE
    (scene / "intrinsic" / "intrinsic_depth.txt").write_text("577.6 0 318.9\n0 578.7 242.7\n0 0 1\n")
    with pytest.raises(SourceError, match=r"intrinsic_depth.txt: expected 4x4 = 16 numbers"):
        _source(exported_root).load_frame(f"scannet/{SCENE}/000000")
    np.savetxt(scene / "intrinsic" / "intrinsic_depth.txt", _as4(DEPTH_K), fmt="%f")
    (scene / "depth" / "1.png").unlink()
    with pytest.raises(SourceError, match=r"depth/1.png: missing"):
        _source(exported_root).load_frame(f"scannet/{SCENE}/000001")
    (scene / "pose" / "0.txt").write_text("1 0 0 0\n0 1 0 0\n0 0 2 0\n0 0 0 1\n")
    with pytest.raises(SourceError, match=r"pose/0.txt: camera-to-world pose rotation is not orthonormal"):
        _source(exported_root).load_frame(f"scannet/{SCENE}/000000")
    shutil.rmtree(scene / "color")
    with pytest.raises(SourceError, match=rf"{SCENE}: neither a color/ folder"):
        _source(exported_root).frame_ids()
    with pytest.raises(ConfigError, match="format must be one of"):
        ScanNetSource.Config(root=exported_root, format="zip")
