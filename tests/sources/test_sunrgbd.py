"""The sunrgbd source: the real mmdet3d frame written into SUN RGB-D's folder layout, and fakes of all sensors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.linalg import rq

from datagen.config import load_config
from datagen.errors import ConfigError, SourceError
from datagen.pipeline import build
from datagen.records import iter_records
from datagen.sources import REGISTRY
from datagen.sources.sunrgbd import SUNRGBDSource, decode_depth
from tests.sources.label_checks import assert_range_and_value, source_pixel_index
from tests.sources.matlab_files import write_v5

SAMPLE = "sunrgbd_mmdet3d_demo/sunrgbd"
SAMPLE_SCENE = "kv2/kinect2data/000017_sample"  # the demo does not name its scene folder
#: The toolbox's A (readframeSUNRGBD.m): camera axes -> x right, y forward, z up.
A = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])
PREFIX = "/n/fs/sun3d/data/SUNRGBD/"  # allsplit.mat's paths, from the authors' machine
FAKES = {"kv1/NYUdata/NYU0001": 2.0, "realsense/lg/2014_10_24-13_51_01-1311000073": 1.5,
         "xtion/sun3ddata/mit_lab/lab_1/0000001-000000000000": 3.0}


def encode_depth(depth_m: np.ndarray) -> np.ndarray:
    """SUN RGB-D's PNG value of a depth: millimetres rotated left by 3 bits (the inverse of read3dPoints.m)."""
    mm = np.round(depth_m * 1000).astype(np.uint32)
    return (((mm << 3) | (mm >> 13)) & 0xFFFF).astype(np.uint16)


def _sample_calibration(sample: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(depth2img, K with MATLAB's 1-based principal point, extrinsics E) of the demo frame.

    depth2img = K E^T A^T (mmdet3d: K . axis swap . Rtilt^T, Rtilt = A E A^T), so K and E^T
    are the RQ factors of depth2img A. The factorisation leaves a skew of 2e-5 (rounding);
    SUN RGB-D's intrinsics files have none, so it is set to 0 (1e-5 px at the image edge).
    """
    depth2img = np.array(json.loads((sample / "calib_derived_from_pkl.json").read_text())
                         ["sample"]["images"]["CAM0"]["depth2img"])
    upper, ortho = rq(depth2img @ A)
    signs = np.diag(np.sign(np.diag(upper)))
    upper, ortho = upper @ signs, signs @ ortho
    K = upper / upper[2, 2]
    K[0, 1] = 0.0
    return depth2img, K, ortho.T


def _sample_points(sample: Path, depth2img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The demo's points (upright frame, metres), their 0-based pixels (u, v) and camera z."""
    points = np.fromfile(sample / "000017.bin", dtype=np.float32).reshape(-1, 6)[:, :3].astype(np.float64)
    uvw = points @ depth2img.T
    pixels = np.round(uvw[:, :2] / uvw[:, 2:]) - 1  # the toolbox's pixels are 1-based
    return points, pixels.astype(int), uvw[:, 2]


def _write_scene(folder: Path, image: np.ndarray | Path, depth: np.ndarray, K: np.ndarray, tilt: np.ndarray,
                 depth_folder: str = "depth") -> None:
    for name in ("image", depth_folder, "extrinsics"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    if isinstance(image, Path):
        shutil.copy(image, folder / "image" / image.name)
    else:
        Image.fromarray(image).save(folder / "image" / "0000001.jpg")
    Image.fromarray(encode_depth(depth)).save(folder / depth_folder / "0000001.png")
    (folder / "intrinsics.txt").write_text(" ".join(repr(float(v)) for v in K.reshape(-1)) + "\n")
    rows = np.hstack([tilt, np.zeros((3, 1))])
    (folder / "extrinsics" / "20140101000000.txt").write_text("0 0 0\n" * 3)  # an older one: not the one read
    (folder / "extrinsics" / "20150101000000.txt").write_text(
        "\n".join(" ".join(repr(float(v)) for v in row) for row in rows) + "\n")


def write_fake_scene(folder: Path, z: float, depth_folder: str = "depth") -> None:
    """An 8x6 scene facing a wall at ``z`` metres, K with the 1-based principal point (4.5, 3.5)."""
    image = np.full((6, 8, 3), 90, dtype=np.uint8)
    K = np.array([[10.0, 0, 4.5], [0, 10.0, 3.5], [0, 0, 1]])
    _write_scene(folder, image, np.full((6, 8), z), K, np.eye(3), depth_folder)


@pytest.fixture
def sample(shared_data) -> Path:
    return shared_data / SAMPLE


@pytest.fixture
def sun_root(tmp_path, sample) -> Path:
    """SUNRGBD/ with the demo frame (kv2) and one fake scene per other sensor, and the toolbox split."""
    root = tmp_path / "sun"
    depth2img, K, tilt = _sample_calibration(sample)
    _, pixels, z = _sample_points(sample, depth2img)
    depth = np.zeros((530, 730))
    depth[pixels[:, 1], pixels[:, 0]] = z
    _write_scene(root / "SUNRGBD" / SAMPLE_SCENE, sample / "000017.jpg", depth, K, tilt)
    for scene, wall in FAKES.items():
        write_fake_scene(root / "SUNRGBD" / scene, wall)
    split = root / "SUNRGBDtoolbox" / "traintestSUNRGBD"
    split.mkdir(parents=True)
    write_v5(split / "allsplit.mat", {
        "alltrain": [PREFIX + "kv1/NYUdata/NYU0001/", PREFIX + "xtion/sun3ddata/mit_lab/lab_1/0000001-000000000000"],
        "alltest": [PREFIX + SAMPLE_SCENE],
        "trainvalsplit": {"train": [PREFIX + "xtion/sun3ddata/mit_lab/lab_1/0000001-000000000000"],
                          "val": [PREFIX + "kv1/NYUdata/NYU0001/"]}})
    return root


def _source(root: Path, **options) -> SUNRGBDSource:
    return SUNRGBDSource(SUNRGBDSource.Config(root=root, **options))


def test_table_has_every_sensor_and_the_official_split(sun_root):
    assert REGISTRY.load_builtins().get("sunrgbd") is SUNRGBDSource
    table = _source(sun_root).frame_table()
    scenes = sorted([SAMPLE_SCENE, *FAKES])
    assert table.frame_ids.tolist() == [f"sunrgbd/{scene}" for scene in scenes]
    assert table.sequence.tolist() == scenes
    assert table.camera.tolist() == ["kv1", "kv2", "realsense", "xtion"]
    assert table.split.tolist() == ["train", "test", "", "train"]  # the realsense scene is in no list
    assert _source(sun_root, val_split=True).frame_table().split.tolist() == ["val", "test", "", "train"]
    assert _source(sun_root / "SUNRGBD", official_splits=False).frame_table().split is None


def test_depth_decoding_is_read3dpoints_bit_rotation():
    stored = np.arange(65536, dtype=np.uint16)
    toolbox = [((d >> 3) | (d << 13)) & 0xFFFF for d in range(65536)]  # bitor(bitshift(d,-3), bitshift(d,16-3))
    np.testing.assert_array_equal(decode_depth(stored), np.array(toolbox, dtype=np.float64) / 1000)  # single(.)/1000
    np.testing.assert_array_equal(decode_depth(encode_depth(np.array([0.001, 1.234, 7.999]))), [0.001, 1.234, 7.999])


def test_labels_are_the_demo_point_cloud(sun_root, sample):
    """Every labelled pixel, back-projected and turned upright, is the mmdet3d point sampled there."""
    depth2img, _, _ = _sample_calibration(sample)
    points, pixels, _ = _sample_points(sample, depth2img)
    frame = _source(sun_root).load_frame(f"sunrgbd/{SAMPLE_SCENE}")
    rows, cols = np.nonzero(np.isfinite(frame.depth_m))
    assert len(rows) == len(points) == 50_000
    order = np.lexsort((cols, rows))
    expected = points[np.lexsort((pixels[:, 0], pixels[:, 1]))]
    uv = np.column_stack([cols, rows])[order].astype(np.float64)
    camera_points = frame.camera.unproject(uv, z_m=frame.depth_m[rows, cols][order])
    upright = camera_points @ frame.camera.T_world_cam[:3, :3].T
    np.testing.assert_allclose(upright, expected, atol=5e-5)  # mm-quantised depth, float32 points
    assert frame.depth_kind == "z" and frame.split == "test" and frame.meta["sensor"] == "kv2"
    assert frame.image_path.name == "000017.jpg"




def test_every_label_of_a_build_is_the_demo_depth(sun_root, sample, tmp_path):
    depth2img, _, _ = _sample_calibration(sample)
    _, pixels, z = _sample_points(sample, depth2img)
    depth_at = {(int(u), int(v)): round(w * 1000) / 1000 for (u, v), w in zip(pixels, z)}
    config = load_config(None, {"source": "sunrgbd", "root": str(sun_root), "tasks": ["distance"], "cameras": ["kv2"],
                                "sampling": {"points_per_frame": 40, "strategy": "uniform"}})
    build(config, tmp_path / "out", strict=True)
    records = list(iter_records(tmp_path / "out"))
    assert len(records) == 40 and {r["split"] for r in records} == {"test"}
    for record in records:
        z = depth_at[source_pixel_index(record["label"]["pixels"][0], record["provenance"]["transforms"])]
        assert record["label"]["z_m"][0] == pytest.approx(z, abs=1e-12)
        assert_range_and_value(record)


def test_fake_scenes_use_the_1_based_principal_point_and_the_wall_depth(sun_root):
    for scene, wall in FAKES.items():
        frame = _source(sun_root).load_frame(f"sunrgbd/{scene}")
        assert frame.camera.intrinsics() == [10.0, 10.0, 3.5, 2.5, 8, 6]
        np.testing.assert_array_equal(frame.depth_m, np.full((6, 8), wall))
        np.testing.assert_array_equal(frame.camera.T_world_cam[:3, :3], A)  # level camera: z up is -y


def test_refined_depth_comes_from_depth_bfx(sun_root):
    refined = sun_root / "SUNRGBD" / "kv1/NYUdata/NYU0001" / "depth_bfx"
    refined.mkdir()
    Image.fromarray(encode_depth(np.full((6, 8), 2.5))).save(refined / "0000001.png")
    assert np.all(_source(sun_root, depth="refined").load_frame("sunrgbd/kv1/NYUdata/NYU0001").depth_m == 2.5)
    assert np.all(_source(sun_root).load_frame("sunrgbd/kv1/NYUdata/NYU0001").depth_m == 2.0)
    with pytest.raises(SourceError, match=r"1311000073/depth_bfx: no \*\.png file"):
        _source(sun_root, depth="refined").load_frame("sunrgbd/realsense/lg/2014_10_24-13_51_01-1311000073")


def test_depth_beyond_the_toolbox_clamp_gives_no_label(tmp_path):
    write_fake_scene(tmp_path / "SUNRGBD" / "kv2/kinect2data/far", 9.0)
    frame = _source(tmp_path, official_splits=False).load_frame("sunrgbd/kv2/kinect2data/far")
    assert np.isnan(frame.depth_m).all()
    frame = _source(tmp_path, official_splits=False, max_depth_m=10).load_frame("sunrgbd/kv2/kinect2data/far")
    assert np.all(frame.depth_m == 9.0)


# --- bad input ----------------------------------------------------------------------------------


def test_missing_and_malformed_files_name_the_file(sun_root):
    scene = sun_root / "SUNRGBD" / "kv1/NYUdata/NYU0001"
    source = _source(sun_root)
    (scene / "intrinsics.txt").write_text("518.8 0 284.5 0 519.4 208.7 0 0\n")
    with pytest.raises(SourceError, match=r"NYU0001/intrinsics\.txt: the 3x3 intrinsic matrix must be 9"):
        source.load_frame("sunrgbd/kv1/NYUdata/NYU0001")
    (scene / "extrinsics" / "20150101000000.txt").write_text("1 0 0\n0 2 0\n0 0 1\n")
    (scene / "intrinsics.txt").write_text("10 0 4.5 0 10 3.5 0 0 1\n")
    with pytest.raises(SourceError, match=r"20150101000000\.txt: the 3x3 part is not a rotation"):
        source.load_frame("sunrgbd/kv1/NYUdata/NYU0001")
    png = next((sun_root / "SUNRGBD" / SAMPLE_SCENE / "depth").glob("*.png"))
    png.write_bytes(png.read_bytes()[:200])
    with pytest.raises(SourceError, match=rf"{png.name}: not a readable image"):
        source.load_frame(f"sunrgbd/{SAMPLE_SCENE}")
    shutil.rmtree(sun_root / "SUNRGBD" / "realsense/lg/2014_10_24-13_51_01-1311000073" / "depth")
    with pytest.raises(SourceError, match=r"1311000073/depth: no \*\.png file"):
        source.load_frame("sunrgbd/realsense/lg/2014_10_24-13_51_01-1311000073")
    with pytest.raises(SourceError, match=r"no frame 'sunrgbd/kv3/x'"):
        source.load_frame("sunrgbd/kv3/x")


def test_bad_frames_are_skipped_and_counted(sun_root, tmp_path):
    png = next((sun_root / "SUNRGBD" / "kv1/NYUdata/NYU0001" / "depth").glob("*.png"))
    Image.fromarray(np.zeros((6, 8), dtype=np.uint8)).save(png)  # an 8-bit PNG: not SUN RGB-D depth
    config = load_config(None, {"source": "sunrgbd", "root": str(sun_root), "tasks": ["distance"],
                                "cameras": ["kv1", "xtion"], "sampling": {"points_per_frame": 2}})
    manifest = build(config, tmp_path / "out")
    assert manifest["frames"]["skipped_ids"] == {"source_error": ["sunrgbd/kv1/NYUdata/NYU0001"]}
    assert manifest["counts"]["total"] == 2


def test_missing_or_malformed_split_file(sun_root):
    split = sun_root / "SUNRGBDtoolbox" / "traintestSUNRGBD" / "allsplit.mat"
    write_v5(split, {"alltrain": ["/somewhere/else/kv1/NYUdata/NYU0001"], "alltest": ["x"]})
    with pytest.raises(SourceError, match=r"allsplit\.mat: split entry '/somewhere/else.*' has no SUNRGBD/"):
        _source(sun_root).frame_table()
    split.unlink()
    with pytest.raises(SourceError, match=r"allsplit\.mat: missing .*split_file.*official_splits"):
        _source(sun_root).frame_table()
    with pytest.raises(SourceError, match=r"nowhere\.mat: missing"):
        _source(sun_root, split_file="nowhere.mat").frame_table()


@pytest.mark.parametrize("options, field", [({"depth": "bfx"}, "depth"), ({"max_depth_m": 0}, "max_depth_m"),
                                            ({"val_split": "yes"}, "val_split")])
def test_bad_options_are_refused(tmp_path, options, field):
    with pytest.raises(ConfigError, match=f"sunrgbd source: {field}"):
        _source(tmp_path, **options)
