"""The rgbd source: a user's folder of images and depth maps, with the recipes of docs/sources/rgbd.md."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from datagen.errors import ConfigError, MissingDependencyError, SourceError
from datagen.sources import REGISTRY
from datagen.sources.rgbd import RGBDSource
from tests.sources.depth_checks import check_depth_map_labels, check_reprojected_labels
from tests.sources.label_checks import build_records

# Recipes of docs/sources/rgbd.md, with the intrinsics the samples' SOURCE.md files give.
NYU_K = [518.8579, 519.46961, 325.58245, 253.73617]
NYU = {"images": "rgb/rgb_{id}.jpg", "depth": "depth/sync_depth_{id}.png", "depth_scale": 1000, "intrinsics": NYU_K}
KITTI_K = [707.0493, 707.0493, 604.0814, 180.5066]
KITTI = {"images": "rgb/{id}.png", "depth": "depth/{id}.png", "depth_scale": 256, "intrinsics": KITTI_K}
NYU_IDS = ("00000", "00050", "00100")


def _K(fx, fy, cx, cy) -> np.ndarray:
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])


def _source(root: Path, **options) -> RGBDSource:
    return RGBDSource(RGBDSource.Config(root=root, **options))


@pytest.fixture
def nyu(shared_data) -> Path:
    return shared_data / "nyuv2_metric3d" / "nyu_demo"


def _nyu_depth(nyu: Path, key: str) -> np.ndarray:
    return np.asarray(Image.open(nyu / "depth" / f"sync_depth_{key}.png")).astype(np.float64) / 1000.0


def test_nyu_recipe_every_label_is_the_png_in_millimetres(nyu, tmp_path):
    assert REGISTRY.load_builtins().get("rgbd") is RGBDSource
    table = _source(nyu, **NYU).frame_table()
    assert table.frame_ids.tolist() == [f"rgbd/rgb/rgb_{k}.jpg" for k in NYU_IDS]
    assert table.split is None and set(table.sequence) == {""}
    records, manifest = build_records(tmp_path / "out", "rgbd", nyu, NYU)
    assert manifest["frames"]["skipped"] == {}
    depth = {f"rgbd/rgb/rgb_{k}.jpg": _nyu_depth(nyu, k) for k in NYU_IDS}
    n = check_depth_map_labels(records, _K(*NYU_K), depth)
    assert n == sum(len(r["label"]["z_m"]) for r in records) and n > 10


def test_kitti_recipe_every_label_is_the_png_over_256(shared_data, tmp_path):
    kitti = shared_data / "kitti_depth_metric3d" / "kitti_demo"
    records, manifest = build_records(tmp_path / "out", "rgbd", kitti, KITTI)
    assert manifest["frames"]["skipped"] == {} and records
    raw = np.asarray(Image.open(kitti / "depth" / "0000000050.png"))
    assert raw.dtype == np.uint16
    n = check_depth_map_labels(records, _K(*KITTI_K), {"rgbd/rgb/0000000050.png": raw / 256.0})
    assert n > 5
    assert all(r["camera"][:2] == [1000.0, 1000.0] for r in records)


def test_nyu_bts_layout_recipe(nyu, tmp_path):
    root = tmp_path / "official_splits" / "test"
    for scene, key in (("bathroom", "00000"), ("kitchen", "00050")):
        (root / scene).mkdir(parents=True)
        shutil.copy(nyu / "rgb" / f"rgb_{key}.jpg", root / scene / f"rgb_{key}.jpg")
        shutil.copy(nyu / "depth" / f"sync_depth_{key}.png", root / scene / f"sync_depth_{key}.png")
    options = {**NYU, "images": "{seq}/rgb_{id}.jpg", "depth": "{seq}/sync_depth_{id}.png", "split": "test"}
    table = _source(root, **options).frame_table()
    assert table.sequence.tolist() == ["bathroom", "kitchen"] and table.split.tolist() == ["test", "test"]
    records, _ = build_records(tmp_path / "out", "rgbd", root, options)
    depth = {"rgbd/bathroom/rgb_00000.jpg": _nyu_depth(nyu, "00000"), "rgbd/kitchen/rgb_00050.jpg": _nyu_depth(nyu, "00050")}
    assert check_depth_map_labels(records, _K(*NYU_K), depth) > 10


def test_kitti_depth_selection_layout_recipe(shared_data, tmp_path):
    kitti = shared_data / "kitti_depth_metric3d" / "kitti_demo"
    root = tmp_path / "val_selection_cropped"
    for sub in ("image", "groundtruth_depth", "intrinsics"):
        (root / sub).mkdir(parents=True)
    drive = "2011_09_26_drive_0002_sync"
    shutil.copy(kitti / "rgb" / "0000000050.png", root / "image" / f"{drive}_image_0000000050_image_02.png")
    shutil.copy(kitti / "depth" / "0000000050.png",
                root / "groundtruth_depth" / f"{drive}_groundtruth_depth_0000000050_image_02.png")
    K = _K(*KITTI_K)
    (root / "intrinsics" / f"{drive}_image_0000000050_image_02.txt").write_text(" ".join(f"{v:.6f}" for v in K.ravel()))
    options = {"images": "image/{seq}_image_{id}.png", "depth": "groundtruth_depth/{seq}_groundtruth_depth_{id}.png",
               "intrinsics": "intrinsics/{seq}_image_{id}.txt", "depth_scale": 256}
    table = _source(root, **options).frame_table()
    assert table.sequence.tolist() == [drive]
    records, _ = build_records(tmp_path / "out", "rgbd", root, options)
    raw = np.asarray(Image.open(kitti / "depth" / "0000000050.png"))
    frame_id = f"rgbd/image/{drive}_image_0000000050_image_02.png"
    assert check_depth_map_labels(records, K, {frame_id: raw / 256.0}) > 5


def _write_float_depth(path: Path, depth: np.ndarray) -> None:
    depth = depth.astype(np.float32)
    if path.suffix == ".npy":
        np.save(path, depth)
    elif path.suffix == ".pfm":
        with path.open("wb") as out:
            out.write(b"Pf\n%d %d\n-1.0\n" % (depth.shape[1], depth.shape[0]))
            out.write(np.flipud(depth).astype("<f4").tobytes())
    elif path.suffix == ".tiff":
        Image.fromarray(depth, mode="F").save(path)
    else:
        openexr = pytest.importorskip("OpenEXR")
        header = {"compression": openexr.ZIP_COMPRESSION, "type": openexr.scanlineimage}
        with openexr.File(header, {"Z": depth}) as exr:
            exr.write(str(path))


@pytest.mark.parametrize("suffix", [".npy", ".pfm", ".tiff", ".exr"])
def test_float_depth_files_in_metres(nyu, tmp_path, suffix):
    root = tmp_path / "data"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    shutil.copy(nyu / "rgb" / "rgb_00050.jpg", root / "rgb" / "a.jpg")
    depth = _nyu_depth(nyu, "00050")
    depth[:5, :7] = np.inf  # inf and NaN mean no data
    depth[5:9, :7] = np.nan
    _write_float_depth(root / "depth" / f"a{suffix}", depth)
    frame = _source(root, intrinsics=NYU_K).load_frame("rgbd/rgb/a.jpg")
    expected = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
    np.testing.assert_array_equal(frame.depth_m, expected)
    assert frame.meta["depth"] == f"depth/a{suffix}"


def test_exr_without_the_package_says_what_to_install(nyu, tmp_path, monkeypatch):
    import datagen._optional as optional

    root = tmp_path / "data"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    shutil.copy(nyu / "rgb" / "rgb_00050.jpg", root / "rgb" / "a.jpg")
    (root / "depth" / "a.exr").write_bytes(b"not read")
    real = optional.importlib.import_module

    def refuse(name, *args):
        if name == "OpenEXR":
            raise ImportError("No module named 'OpenEXR'")
        return real(name, *args)

    monkeypatch.setattr(optional.importlib, "import_module", refuse)
    with pytest.raises(MissingDependencyError, match=r"pip install 'datagen\[exr\]'"):
        _source(root, intrinsics=NYU_K).load_frame("rgbd/rgb/a.jpg")


def _layout(tmp_path: Path, nyu: Path, names=("a", "b")) -> Path:
    root = tmp_path / "data"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    for name, key in zip(names, NYU_IDS):
        shutil.copy(nyu / "rgb" / f"rgb_{key}.jpg", root / "rgb" / f"{name}.jpg")
        shutil.copy(nyu / "depth" / f"sync_depth_{key}.png", root / "depth" / f"{name}.png")
    return root


def test_intrinsics_files_one_for_all_or_per_frame(nyu, tmp_path):
    root = _layout(tmp_path, nyu)
    (root / "K.txt").write_text("518.8579 0 325.58245\n0 519.46961 253.73617\n0 0 1\n")
    camera = _source(root, intrinsics="K.txt", depth_scale=1000).load_frame("rgbd/rgb/a.jpg").camera
    np.testing.assert_allclose(camera.K, _K(*NYU_K))
    (root / "intrinsics").mkdir()
    for name, fx in (("a", 500.0), ("b", 510.0)):
        (root / "intrinsics" / f"{name}.json").write_text(json.dumps(
            {"fx": fx, "fy": fx, "cx": 320.0, "cy": 240.0, "width": 640, "height": 480}))
    source = _source(root, intrinsics="intrinsics/{id}.json", depth_scale=1000)
    assert [source.load_frame(f"rgbd/rgb/{n}.jpg").camera.fx for n in "ab"] == [500.0, 510.0]
    (root / "intrinsics" / "b.json").write_text(json.dumps({"cam_in": NYU_K, "width": 1280, "height": 960}))
    with pytest.raises(SourceError, match=r"b.json: intrinsics are for 1280x960 but .*b.jpg is 640x480"):
        source.load_frame("rgbd/rgb/b.jpg")
    (root / "intrinsics" / "b.json").write_text(json.dumps({"focal": 500}))
    with pytest.raises(SourceError, match=r"b.json: no intrinsics"):
        source.load_frame("rgbd/rgb/b.jpg")
    (root / "K.txt").write_text("518.8 0 325.6\n0 519.5 253.7\n")
    with pytest.raises(SourceError, match=r"K.txt: intrinsics must be 4 numbers .* got 6 numbers"):
        _source(root, intrinsics="K.txt", depth_scale=1000).load_frame("rgbd/rgb/a.jpg")


def test_depth_of_another_camera_is_reprojected_not_resized(nyu, tmp_path):
    root = _layout(tmp_path, nyu, names=("a",))
    half = np.asarray(Image.open(root / "depth" / "a.png"))[::2, ::2].copy()
    Image.fromarray(half).save(root / "depth" / "a.png")
    with pytest.raises(SourceError, match=r"a.png: depth map is 320x240 px, the image 640x480; give depth_intrinsics"):
        _source(root, intrinsics=NYU_K, depth_scale=1000).load_frame("rgbd/rgb/a.jpg")
    # the same view at half the resolution, and 2 cm to the side
    fx, fy, cx, cy = NYU_K
    depth_K = _K(fx / 2, fy / 2, (cx + 0.5) / 2 - 0.5, (cy + 0.5) / 2 - 0.5)
    T = np.eye(4)
    T[0, 3] = 0.02
    options = {"intrinsics": NYU_K, "depth_scale": 1000, "depth_intrinsics": "scaled", "T_color_depth": T.ravel().tolist()}
    records, _ = build_records(tmp_path / "out", "rgbd", root, options)
    v, u = np.nonzero(half > 0)
    z = half[v, u] / 1000.0
    points = np.column_stack([(u - depth_K[0, 2]) / depth_K[0, 0] * z, (v - depth_K[1, 2]) / depth_K[1, 1] * z, z])
    n = check_reprojected_labels(records, {"rgbd/rgb/a.jpg": points + T[:3, 3]}, _K(*NYU_K))
    assert n > 10


def test_poses_from_a_tum_trajectory_or_per_frame_matrices(nyu, tmp_path):
    root = _layout(tmp_path, nyu, names=("1305031452.791720", "1305031453.359684"))
    rotation = Rotation.from_euler("xyz", [10, -20, 5], degrees=True)
    qx, qy, qz, qw = rotation.as_quat()
    (root / "groundtruth.txt").write_text(f"# timestamp tx ty tz qx qy qz qw\n1305031452.7900 1 2 3 {qx} {qy} {qz} {qw}\n"
                                          f"1305031453.3600 4 5 6 0 0 0 1\n")
    source = _source(root, intrinsics=NYU_K, depth_scale=1000, poses="groundtruth.txt")
    frame = source.load_frame("rgbd/rgb/1305031452.791720.jpg")
    np.testing.assert_allclose(frame.camera.T_world_cam[:3, :3], rotation.as_matrix(), atol=1e-12)
    np.testing.assert_allclose(frame.camera.T_world_cam[:3, 3], [1, 2, 3])
    assert frame.sequence == "data" and frame.meta["pose_known"]
    (root / "pose").mkdir()
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = rotation.as_matrix(), [1, 2, 3]
    for name in ("1305031452.791720", "1305031453.359684"):
        np.savetxt(root / "pose" / f"{name}.txt", T)
    frame_id = "rgbd/rgb/1305031453.359684.jpg"
    per_frame = _source(root, intrinsics=NYU_K, depth_scale=1000, poses="pose/{id}.txt").load_frame(frame_id)
    np.testing.assert_allclose(per_frame.camera.T_world_cam, T, atol=1e-12)
    inverse = _source(root, intrinsics=NYU_K, depth_scale=1000, poses="pose/{id}.txt", pose_type="world_to_camera")
    np.testing.assert_allclose(inverse.load_frame(frame_id).camera.T_world_cam, np.linalg.inv(T), atol=1e-12)
    gl = _source(root, intrinsics=NYU_K, depth_scale=1000, poses="pose/{id}.txt", pose_axes="opengl")
    np.testing.assert_allclose(gl.load_frame(frame_id).camera.T_world_cam, T @ np.diag([1, -1, -1, 1]), atol=1e-12)
    (root / "pose" / "1305031453.359684.txt").write_text("1 0 0\n")
    with pytest.raises(SourceError, match=r"1305031453.359684.txt: a pose must be 12 or 16 numbers"):
        _source(root, intrinsics=NYU_K, depth_scale=1000, poses="pose/{id}.txt").load_frame(frame_id)
    (root / "groundtruth.txt").write_text("1305031452.7900 1 2 3 0 0 0 1\n")
    with pytest.raises(SourceError, match=r"groundtruth.txt: no pose within 0.02 s of 1305031453.359684"):
        source.__class__(source.config).load_frame(frame_id)
    (root / "groundtruth.txt").write_text("# header\n1305031453.3600 1 2 3 0 0 0 0\n")
    with pytest.raises(SourceError, match=r"groundtruth.txt:2: pose must be 7 finite numbers .* unit quaternion"):
        source.__class__(source.config).load_frame(frame_id)


def test_sequences_and_splits_from_the_folders(nyu, tmp_path):
    root = tmp_path / "data"
    for split, seq, key in (("training", "kitchen_0001", "00000"), ("testing", "bath/0002", "00050")):
        for sub in ("rgb", "depth"):
            (root / split / seq / sub).mkdir(parents=True)
        shutil.copy(nyu / "rgb" / f"rgb_{key}.jpg", root / split / seq / "rgb" / "f.jpg")
        shutil.copy(nyu / "depth" / f"sync_depth_{key}.png", root / split / seq / "depth" / "f.png")
    options = dict(images="{split}/{seq}/rgb/{id}.jpg", depth="{split}/{seq}/depth/{id}.png", intrinsics=NYU_K,
                   depth_scale=1000)
    table = _source(root, **options).frame_table()
    assert table.split.tolist() == ["test", "train"] and table.sequence.tolist() == ["bath/0002", "kitchen_0001"]
    frame = _source(root, **options).load_frame("rgbd/training/kitchen_0001/rgb/f.jpg")
    assert frame.split == "train" and frame.sequence == "kitchen_0001"
    (root / "training").rename(root / "extra")
    with pytest.raises(SourceError, match=r"folder 'extra' in the \{split\} place is not a split name"):
        _source(root, **options).frame_table()


def test_pairing_rule_and_its_errors(nyu, tmp_path):
    root = _layout(tmp_path, nyu)
    shutil.copy(root / "rgb" / "a.jpg", root / "rgb" / "c.jpg")
    with pytest.raises(SourceError, match=r"1 image\(s\) without a depth map matching 'depth/\{id\}.\*', e.g. rgb/c.jpg"):
        _source(root, intrinsics=NYU_K, depth_scale=1000).frame_table()
    skip = _source(root, intrinsics=NYU_K, depth_scale=1000, missing_depth="skip")
    assert skip.frame_ids() == ["rgbd/rgb/a.jpg", "rgbd/rgb/b.jpg"]
    shutil.copy(root / "depth" / "a.png", root / "depth" / "a.npy")
    with pytest.raises(SourceError, match=r"depth/a.npy and depth/a.png both match 'depth/\{id\}.\*'"):
        skip.frame_table()
    (root / "depth" / "a.npy").unlink()
    with pytest.raises(SourceError, match=r"a.png: integer depth \(uint16\) needs the source option depth_scale"):
        _source(root, intrinsics=NYU_K).load_frame("rgbd/rgb/a.jpg")
    with pytest.raises(SourceError, match=r"nothing: not a folder \(the images pattern"):
        _source(root, intrinsics=NYU_K, images="nothing/{id}.png").frame_table()


@pytest.mark.parametrize("options, message", [
    ({"images": "rgb/*.png"}, r"images 'rgb/\*.png' must contain \{id\}"),
    ({"images": "{seq}/{id}.png"}, "images and depth must use the same placeholders"),
    ({"images": "../rgb/{id}.png"}, "must be a path pattern relative to root"),
    ({"intrinsics": None}, "intrinsics is required"),
    ({"depth_kind": "disparity"}, "depth_kind must be one of"),
    ({"depth_scale": 0}, "depth_scale must be a number > 0"),
    ({"split": "dev"}, "split must be one of"),
])
def test_config_errors(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        RGBDSource.Config(root=tmp_path, **{"intrinsics": NYU_K, **options})
