"""The depthlm source and ``datagen import``: DepthLM curated JSONL in, labels back out unchanged."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from datagen.cli import main
from datagen.config import load_config
from datagen.errors import ConfigError, SourceError
from datagen.pipeline import build
from datagen.records import iter_records, read_manifest
from datagen.sources import REGISTRY
from datagen.sources.depthlm import DepthLMSource, split_from_name
from tests.sources.label_checks import map_pixel

IBIMS = "ibims1_depthlm"


@pytest.fixture
def ibims(shared_data) -> Path:
    return shared_data / IBIMS


def _lines(root: Path, n: int) -> list[dict]:
    with (root / "ibims1_val.jsonl").open() as handle:
        return [json.loads(next(handle)) for _ in range(n)]


def _source(root: Path, **options) -> DepthLMSource:
    return DepthLMSource(DepthLMSource.Config(root=root, **options))


def test_registered_and_ids_follow_the_lines(ibims):
    assert REGISTRY.load_builtins().get("depthlm") is DepthLMSource
    source = _source(ibims, limit=3)
    assert source.frame_ids() == [f"depthlm/ibims1_val/{i:06d}" for i in range(3)]
    assert len(_source(ibims).frame_ids()) == 100


@pytest.mark.parametrize("kind", ["z", "range"])
def test_points_project_back_onto_their_pixels_at_their_depth(ibims, kind):
    source = _source(ibims, limit=2, depth_kind=kind)
    for frame_id, line in zip(source.frame_ids(), _lines(ibims, 2)):
        frame = source.load_frame(frame_id)
        assert frame.camera.intrinsics() == line["intrinsics"]
        assert np.array_equal(frame.T_cam_points, np.eye(4))
        uv, valid = frame.camera.project(frame.points)
        assert valid.all() and np.abs(uv - np.array(line["pixel_coords"])).max() < 1e-6
        depth = frame.points[:, 2] if kind == "z" else np.linalg.norm(frame.points, axis=1)
        np.testing.assert_allclose(depth, line["depth"], rtol=1e-14)
        u, v = np.array(line["pixel_coords"]).T
        np.testing.assert_array_equal(frame.depth_m[v, u], line["depth"])
        assert np.isnan(frame.depth_m).sum() == frame.camera.width * frame.camera.height - len(u)
        assert frame.depth_kind == kind and frame.split == "val"
        assert frame.image_path == ibims / line["image"] and frame.image_path.is_file()


def test_sequence_is_the_scene_named_by_the_image(ibims):
    frame = _source(ibims, limit=1).load_frame("depthlm/ibims1_val/000000")  # rgb/corridor_01.png
    assert frame.sequence == "rgb/corridor"
    assert _source(ibims, limit=1, sequence_from="image").load_frame(frame.frame_id).sequence == "rgb/corridor_01"
    assert _source(ibims, limit=1, sequence_from="folder").load_frame(frame.frame_id).sequence == "rgb"


@pytest.mark.parametrize("name, split", [("ibims1_val.jsonl", "val"), ("nuscenes_train.jsonl", "train"),
                                         ("eth3d-test.jsonl", "test"), ("scannet.jsonl", None),
                                         ("x_train_val.jsonl", None), ("validation.jsonl", "val")])
def test_split_from_the_file_name(name, split):
    assert split_from_name(name) == split


# --- round trip through a build ----------------------------------------------------------------


def _ray_norm(camera: list, uv: np.ndarray) -> np.ndarray:
    """|(x, y, 1)| of the ray through pixel uv of a pinhole camera [fx, fy, cx, cy, ...], by hand."""
    fx, fy, cx, cy = camera[:4]
    return np.sqrt(((uv[..., 0] - cx) / fx) ** 2 + ((uv[..., 1] - cy) / fy) ** 2 + 1.0)


@pytest.fixture(scope="module", params=["z", "range"])
def round_trip(request, tmp_path_factory):
    from tests.conftest import SHARED_DATA

    root = SHARED_DATA / IBIMS
    if not root.is_dir():
        pytest.skip(f"{root} not found (the shared samples sit beside the checkout)")
    out = tmp_path_factory.mktemp(f"depthlm_{request.param}")
    config = load_config(None, {
        "source": "depthlm", "root": str(root), "tasks": ["distance"],
        "source_options": {"limit": 1, "depth_kind": request.param},
        "sampling": {"points_per_frame": 1000, "avoid_edges": False, "strategy": "uniform", "margin_px": 0}})
    build(config, out, strict=True)
    return request.param, _lines(root, 1)[0], list(iter_records(out))


def test_round_trip_keeps_every_label_on_its_pixel(round_trip):
    _, line, records = round_trip
    assert len(records) == len(line["depth"])
    transforms = records[0]["provenance"]["transforms"]
    mapped = map_pixel(np.array(line["pixel_coords"], dtype=np.float64), transforms)
    got = np.array([r["label"]["pixels"][0] for r in records])
    # every label comes back, on the pixel centre nearest its mapped position
    assert sorted(map(tuple, got)) == sorted(map(tuple, np.floor(mapped + 0.5).astype(int)))
    order = np.lexsort(np.floor(mapped + 0.5).T[::-1])
    assert np.abs(got[np.lexsort(got.T[::-1])] - mapped[order]).max() <= 0.5
    assert {r["provenance"]["frames"][0] for r in records} == {"depthlm/ibims1_val/000000"}
    assert {r["provenance"]["depth_from"] for r in records} == {"depth_map"}


def test_round_trip_depths_follow_exactly_from_the_input(round_trip):
    kind, line, records = round_trip
    src_camera = line["intrinsics"]
    mapped = map_pixel(np.array(line["pixel_coords"], dtype=np.float64), records[0]["provenance"]["transforms"])
    by_pixel = {tuple(np.floor(m + 0.5).astype(int)): (i, m) for i, m in enumerate(mapped)}
    for record in records:
        pixel = tuple(record["label"]["pixels"][0])
        i, _ = by_pixel[pixel]
        d = line["depth"][i]
        n_in = _ray_norm(src_camera, np.array(line["pixel_coords"][i], dtype=np.float64))
        n_out = _ray_norm(record["camera"], np.array(pixel, dtype=np.float64))
        # The label keeps its z and moves to the nearest pixel centre of the normalised image:
        # z = d (z kind) or d / |ray(u, v)| (range kind); range = z * |ray(pixel)|.
        z = d if kind == "z" else d / n_in
        assert record["label"]["z_m"][0] == pytest.approx(z, rel=1e-12)
        assert record["value"] == pytest.approx(z * n_out, rel=1e-12)
        if kind == "range":
            # Only the rounding of the pixel moves the range: |dn / n| <= (|x| + |y|) / n^2 * 0.5 / f
            # <= 0.5 * sqrt(2) / 2 / f (largest at |x| = |y| = 1 / sqrt(2)).
            f = record["camera"][0]
            assert abs(record["value"] / d - 1) <= 0.5 * math.sqrt(2) / 2 / f * 1.001


# --- malformed input ----------------------------------------------------------------------------


def _fake_release(root: Path, lines: list, size=(8, 6)) -> Path:
    """A folder holding ``data_test.jsonl`` (entries or raw strings) and an 8x6 image ``img/a_1.png``."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 150)).save(root / "img" / "a_1.png")
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    (root / "data_test.jsonl").write_text(text)
    return root


def _entry(**changes) -> dict:
    entry = {"image": "/img/a_1.png", "intrinsics": [10.0, 10.0, 3.5, 2.5, 8, 6],
             "pixel_coords": [[0, 0], [7, 5], [3, 2]], "depth": [1.0, 2.0, 3.0]}
    entry.update(changes)
    return entry


def test_a_good_fake_line_and_the_release_quirks(tmp_path):
    root = _fake_release(tmp_path, ["", _entry(intrinsics=[0.0, 12.0, 3.5, 2.5, 8, 6],
                                              pixel_coords=[[1, 1], [-1, -1], [2, 3]])])
    source = _source(root)
    assert source.frame_ids() == ["depthlm/data_test/000001"]  # blank line 0 holds no record
    frame = source.load_frame("depthlm/data_test/000001")
    assert (frame.camera.fx, frame.camera.fy) == (12.0, 12.0)  # a zero focal length takes the other
    assert len(frame.points) == 2 and frame.points[:, 2].tolist() == [1.0, 3.0]  # [-1, -1] is no label
    assert frame.split == "test" and frame.sequence == "img/a" and frame.image_path == root / "img/a_1.png"


@pytest.mark.parametrize("bad, expected", [
    (_entry(depth=None), r"depth \(one per pixel_coords, 3\) must be a list"),
    ({k: v for k, v in _entry().items() if k != "depth"}, r"missing \['depth'\]"),
    (_entry(intrinsics=[10.0, 10.0, 3.5, 2.5, 8]), "intrinsics"),
    (_entry(intrinsics=[10.0, 10.0, 3.5, 2.5, 8, 7]), "8x6 px but intrinsics say 8x7"),
    (_entry(depth=[1.0, 2.0]), "depth"),
    (_entry(depth=[1.0, float("nan"), 3.0]), "finite"),
    (_entry(depth=[1.0, 0.0, 3.0]), "> 0"),
    (_entry(pixel_coords=[[0, 0], [8, 5], [3, 2]]), "inside the 8x6 image"),
    (_entry(pixel_coords=[[0, 0], [7], [3, 2]]), r"\[u, v\] pairs"),
    (_entry(image="img/missing.png"), "not found"),
    ("{not json", "not a JSON object"),
])
def test_malformed_lines_name_the_file_and_line(tmp_path, bad, expected):
    root = _fake_release(tmp_path, [_entry(), bad])
    source = _source(root)
    assert source.load_frame("depthlm/data_test/000000").points.shape == (3, 3)
    with pytest.raises(SourceError, match=rf"data_test\.jsonl:2: .*{expected}"):
        source.load_frame("depthlm/data_test/000001")


def test_annotation_must_be_found_and_options_checked(tmp_path):
    with pytest.raises(SourceError, match="exactly one"):
        _source(tmp_path).frame_ids()
    _fake_release(tmp_path, [_entry()])
    (tmp_path / "other.jsonl").write_text("")
    with pytest.raises(SourceError, match="data_test.jsonl, other.jsonl"):
        _source(tmp_path).frame_ids()
    assert _source(tmp_path, annotation="data_test.jsonl").frame_ids() == ["depthlm/data_test/000000"]
    with pytest.raises(SourceError, match="no record for frame id"):
        _source(tmp_path, annotation="data_test.jsonl").load_frame("depthlm/data_test/000005")
    for options in ({"depth_kind": "disparity"}, {"limit": 0}, {"root": None}):
        with pytest.raises(ConfigError):
            DepthLMSource.Config(**{"root": tmp_path, **options})


def test_import_command_builds_from_a_jsonl_and_its_image_folder(tmp_path):
    data = _fake_release(tmp_path / "release", [_entry(), _entry(image="img/a_1.png")])
    images = tmp_path / "images"  # the image folder apart from the JSONL's folder
    images.mkdir()
    (data / "img").rename(images / "img")
    out = tmp_path / "build"
    result = CliRunner().invoke(main, ["import", str(data / "data_test.jsonl"), "--images", str(images), "--out",
                                       str(out), "--depth-kind", "range", "--limit", "1", "--tasks", "distance"])
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert manifest["counts"]["by_source"] == {"depthlm": manifest["counts"]["total"]}
    assert manifest["frames"]["planned"] == 1 and manifest["counts"]["by_split"] == {"test": 1}
    resolved = load_config(out / "build.yaml")
    assert resolved.source == "depthlm" and resolved.source_options["depth_kind"] == "range"
    assert Path(resolved.source_options["images"]) == images.resolve()
