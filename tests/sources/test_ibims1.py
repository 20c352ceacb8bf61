"""The ibims1 source: native ibims1_core_mat/*.mat files written from the DepthLM excerpt's real images and labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datagen.config import load_config
from datagen.errors import ConfigError, SourceError
from datagen.pipeline import build
from datagen.records import iter_records
from datagen.sources import REGISTRY
from datagen.sources.depthlm import DepthLMSource
from datagen.sources.ibims1 import IBims1Source
from tests.sources.label_checks import assert_range_and_value, source_pixel_index
from tests.sources.matlab_files import write_v5

SAMPLE = "ibims1_depthlm"
LINES = (0, 20, 80)  # corridor_01, kitchen_03, restaurant_03: both calibrations of the excerpt
INVALID, TRANSPARENT = slice(0, 7), slice(7, 12)  # labelled pixels whose masks are set to 0 here


def _lines(sample: Path) -> dict[int, dict]:
    with (sample / "ibims1_val.jsonl").open() as handle:
        return {i: json.loads(line) for i, line in enumerate(handle) if i in LINES}


def write_native(folder: Path, sample: Path, line: dict) -> str:
    """``<name>.mat`` as the iBims-1 release has it: the real image, the labelled depths, masks and calib.

    calib is MATLAB's transposed intrinsic matrix with a 1-based principal point (the excerpt's is 0-based).
    """
    name = Path(line["image"]).stem
    rgb = np.asarray(Image.open(sample / line["image"]).convert("RGB"))
    depth = np.zeros(rgb.shape[:2])
    u, v = np.array(line["pixel_coords"]).T
    depth[v, u] = line["depth"]
    mask_invalid, mask_transp = np.ones(rgb.shape[:2], np.uint8), np.ones(rgb.shape[:2], np.uint8)
    mask_invalid[v[INVALID], u[INVALID]] = 0
    mask_transp[v[TRANSPARENT], u[TRANSPARENT]] = 0
    fx, fy, cx, cy = line["intrinsics"][:4]
    calib = np.array([[fx, 0, 0], [0, fy, 0], [cx + 1, cy + 1, 1]])
    data = {"rgb": rgb, "depth": depth, "calib": calib, "mask_invalid": mask_invalid, "mask_transp": mask_transp,
            "edges": np.zeros(rgb.shape[:2], np.uint8), "mask_wall": np.zeros(rgb.shape[:2], np.uint8),
            "mask_wall_paras": np.zeros((0, 7))}
    write_v5(folder / f"{name}.mat", {"data": data})
    return name


@pytest.fixture
def sample(shared_data) -> Path:
    return shared_data / SAMPLE


@pytest.fixture
def release(tmp_path, sample) -> Path:
    folder = tmp_path / "ibims1" / "ibims1_core_mat"
    folder.mkdir(parents=True)
    names = [write_native(folder, sample, line) for line in _lines(sample).values()]
    (folder / "imagelist.txt").write_text("\n".join(names) + "\n")
    return tmp_path / "ibims1"


def _source(root: Path, **options) -> IBims1Source:
    return IBims1Source(IBims1Source.Config(root=root, **options))


def test_table_follows_the_image_list(release):
    assert REGISTRY.load_builtins().get("ibims1") is IBims1Source
    table = _source(release).frame_table()
    assert table.frame_ids.tolist() == ["ibims1/corridor/corridor_01", "ibims1/kitchen/kitchen_03",
                                        "ibims1/restaurant/restaurant_03"]
    assert table.sequence.tolist() == ["corridor", "kitchen", "restaurant"] and table.camera is None
    assert table.split.tolist() == ["test"] * 3
    assert _source(release / "ibims1_core_mat", split=None).frame_table().split is None


def test_labels_are_the_excerpts_minus_the_masked_pixels(release, sample):
    for line, frame_id in zip(_lines(sample).values(), _source(release).frame_ids()):
        frame = _source(release).load_frame(frame_id)
        assert frame.camera.intrinsics() == pytest.approx(line["intrinsics"], abs=1e-12)
        np.testing.assert_array_equal(frame.image, np.asarray(Image.open(sample / line["image"]).convert("RGB")))
        u, v = np.array(line["pixel_coords"]).T
        keep = np.ones(len(u), bool)
        keep[INVALID] = keep[TRANSPARENT] = False
        rows, cols = np.nonzero(np.isfinite(frame.depth_m))
        assert sorted(zip(rows, cols)) == sorted(zip(v[keep], u[keep]))
        np.testing.assert_array_equal(frame.depth_m[v[keep], u[keep]], np.array(line["depth"])[keep])
        assert frame.depth_kind == "z" and frame.split == "test" and frame.meta["masked"] == 12


def test_native_and_depthlm_sources_agree_on_the_unmasked_labels(release, sample):
    depthlm = DepthLMSource(DepthLMSource.Config(root=sample))
    for index, frame_id in zip(LINES, _source(release).frame_ids()):
        native = _source(release).load_frame(frame_id)
        curated = depthlm.load_frame(f"depthlm/ibims1_val/{index:06d}")
        both = np.isfinite(native.depth_m)
        np.testing.assert_array_equal(native.depth_m[both], curated.depth_m[both])
        assert np.isfinite(curated.depth_m).sum() - both.sum() == 12
        np.testing.assert_allclose(native.camera.K, curated.camera.K, atol=1e-12)




def test_every_label_of_a_build_is_the_excerpts_depth(release, sample, tmp_path):
    lines = dict(zip(_source(release).frame_ids(), _lines(sample).values()))
    config = load_config(None, {"source": "ibims1", "root": str(release), "tasks": ["distance"],
                                "sampling": {"points_per_frame": 30, "strategy": "uniform"}})
    build(config, tmp_path / "out", strict=True)
    records = list(iter_records(tmp_path / "out"))
    assert len(records) == 3 * 30
    for record in records:
        line = lines[record["provenance"]["frames"][0]]
        depth_at = {tuple(p): d for p, d in zip(line["pixel_coords"], line["depth"])}
        masked = {tuple(p) for p in line["pixel_coords"][INVALID] + line["pixel_coords"][TRANSPARENT]}
        pixel = source_pixel_index(record["label"]["pixels"][0], record["provenance"]["transforms"])
        assert pixel in depth_at and pixel not in masked
        assert record["label"]["z_m"][0] == pytest.approx(depth_at[pixel], rel=1e-12)
        assert_range_and_value(record)
        assert record["split"] == "test"


# --- bad input ----------------------------------------------------------------------------------


def test_missing_and_malformed_files_name_the_file(release, sample):
    folder = release / "ibims1_core_mat"
    (folder / "corridor_01.mat").unlink()
    with pytest.raises(SourceError, match=r"corridor_01\.mat: missing"):
        _source(release).load_frame("ibims1/corridor/corridor_01")
    path = folder / "kitchen_03.mat"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(SourceError, match=r"kitchen_03\.mat: not a readable MATLAB file"):
        _source(release).load_frame("ibims1/kitchen/kitchen_03")
    line = _lines(sample)[80]
    write_native(folder, sample, line)
    data = {"rgb": np.zeros((480, 640, 3), np.uint8), "calib": np.eye(3)}
    write_v5(folder / "restaurant_03.mat", {"data": data})
    with pytest.raises(SourceError, match=r"restaurant_03\.mat: no struct field 'depth'"):
        _source(release).load_frame("ibims1/restaurant/restaurant_03")
    data.update(depth=np.zeros((480, 640)), mask_invalid=np.ones((480, 640)), mask_transp=np.ones((480, 640)),
                calib=np.array([[559.6, 0, 361.9], [0, 558.1, 242.0], [0, 0, 1]]))  # K, not MATLAB's transpose
    write_v5(folder / "restaurant_03.mat", {"data": data})
    with pytest.raises(SourceError, match=r"restaurant_03\.mat: calib must be MATLAB's intrinsic matrix"):
        _source(release).load_frame("ibims1/restaurant/restaurant_03")
    with pytest.raises(SourceError, match=r"no frame 'ibims1/office/restaurant_03'"):
        _source(release).load_frame("ibims1/office/restaurant_03")


def test_bad_frames_are_skipped_and_counted(release, tmp_path):
    path = release / "ibims1_core_mat" / "kitchen_03.mat"
    path.write_bytes(path.read_bytes()[:300])
    config = load_config(None, {"source": "ibims1", "root": str(release), "tasks": ["distance"],
                                "sampling": {"points_per_frame": 2}})
    manifest = build(config, tmp_path / "out")
    assert manifest["frames"]["skipped_ids"] == {"source_error": ["ibims1/kitchen/kitchen_03"]}
    assert manifest["counts"]["total"] == 4


def test_without_an_image_list_the_mat_files_are_listed_by_name(release):
    (release / "ibims1_core_mat" / "imagelist.txt").unlink()
    assert _source(release).frame_ids() == ["ibims1/corridor/corridor_01", "ibims1/kitchen/kitchen_03",
                                            "ibims1/restaurant/restaurant_03"]


def test_bad_options_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="ibims1 source: split"):
        _source(tmp_path, split="validation")
