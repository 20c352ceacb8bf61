"""The main job end to end: `datagen build` on the bundled synthetic scenes, checked independently."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from datagen.cli import main
from datagen.records import iter_records, read_manifest
from datagen.sources.synthetic import SyntheticSource

TASKS = {"distance", "axis_distance", "speed", "time", "two_point", "pose"}


@pytest.fixture(scope="module")
def demo_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["-q", "build", "--out", str(out), "--frames", "24", "--seed", "1"])
    assert result.exit_code == 0, result.output
    return out


def test_build_writes_every_task_for_every_family_and_validates(demo_build):
    manifest = read_manifest(demo_build)
    assert set(manifest["counts"]["by_task"]) == TASKS
    families = {r["provenance"]["frames"][0].split("/")[1] for r in iter_records(demo_build)}
    assert families == {"room", "street", "tabletop"}
    result = CliRunner().invoke(main, ["validate", str(demo_build)])
    assert result.exit_code == 0, result.output
    assert f"{manifest['counts']['total']} records checked, 0 problems" in result.output


def _back_project(camera: list, pixel: list, z: float) -> np.ndarray:
    fx, fy, cx, cy = camera[:4]
    return np.array([(pixel[0] - cx) / fx * z, (pixel[1] - cy) / fy * z, z])


def test_values_follow_from_camera_and_pixels_alone(demo_build):
    for record in iter_records(demo_build):
        label, camera = record["label"], record["camera"]
        if record["task"] == "pose":
            T = np.asarray(label["T_cam0_cam1"])
            assert record["value"] == pytest.approx(np.linalg.norm(T[:3, 3]), rel=1e-12)
            continue
        points = [_back_project(camera, p, z) for p, z in zip(label["pixels"], label["z_m"])]
        distance = float(np.linalg.norm(points[0]))
        expected = {"distance": distance, "axis_distance": label["z_m"][0],
                    "speed": distance / label.get("time_s", np.nan), "time": distance / label.get("speed_mps", np.nan),
                    "two_point": float(np.linalg.norm(points[0] - points[-1]))}[record["task"]]
        assert record["value"] == pytest.approx(expected, rel=1e-9), record["id"]


def _first_hit_m(origin: np.ndarray, direction: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> float:
    """Moller-Trumbore against every triangle, written out in numpy: the nearest hit distance."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    edge1, edge2 = b - a, c - a
    p = np.cross(direction, edge2)
    det = np.einsum("ij,ij->i", edge1, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / det
        s = origin - a
        u = np.einsum("ij,ij->i", s, p) * inv
        q = np.cross(s, edge1)
        v = (q @ direction) * inv
        t = np.einsum("ij,ij->i", edge2, q) * inv
    hit = (np.abs(det) > 1e-12) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-9)
    return float(t[hit].min())


def test_labels_are_the_first_surface_an_independent_ray_caster_finds(demo_build):
    """An independent ray-triangle intersection (not the renderer's Embree path) on the scene mesh."""
    source = SyntheticSource()
    checked = 0
    for record in iter_records(demo_build):
        if record["task"] != "distance":
            continue
        frame = source.load_frame(record["provenance"]["frames"][0])
        vertices, faces, _ = frame.mesh.merged()
        T_world_cam = np.asarray(frame.camera.T_world_cam)
        ray_cam = _back_project(record["camera"], record["label"]["pixels"][0], 1.0)
        direction = T_world_cam[:3, :3] @ (ray_cam / np.linalg.norm(ray_cam))
        nearest = _first_hit_m(T_world_cam[:3, 3], direction, vertices, faces)
        assert record["value"] == pytest.approx(nearest, rel=1e-6, abs=1e-6), record["id"]
        checked += 1
    assert checked == 24


def test_split_assignment_keeps_whole_sequences_together(demo_build):
    splits: dict = {}
    for record in iter_records(demo_build):
        for frame in record["provenance"]["frames"]:
            splits.setdefault(frame.rsplit("/", 1)[0], set()).add(record["split"])
    assert all(len(s) == 1 for s in splits.values())


def test_synthetic_build_is_byte_identical_with_two_workers(tmp_path):
    from datagen.config import load_config
    from datagen.pipeline import build

    config = load_config(None, {"frames": 6, "seed": 2, "shard_size": 2})
    build(config, tmp_path / "one", workers=1)
    build(config, tmp_path / "two", workers=2)
    for name in ("records/shard-00000.jsonl", "records/shard-00002.jsonl", "records/pose.jsonl", "manifest.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    images = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one" / "images").rglob("*.jpg"))
    assert images == sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two" / "images").rglob("*.jpg"))


def test_every_answer_states_its_value_within_half_a_percent(demo_build):
    """Every task, every answer style: the number an answer ends on is within 0.5% of ``value``."""
    from datagen.scoring import parse_answer

    off = []
    for record in iter_records(demo_build):
        stated = parse_answer(record["answer"], unit_hint=record["unit"]).value
        if not abs(stated - record["value"]) <= 0.005 * abs(record["value"]):
            off.append((record["id"], record["answer"][-40:], record["value"]))
    assert off == []


def test_no_two_images_are_paired_twice(demo_build):
    pairs = [frozenset(r["provenance"]["frames"]) for r in iter_records(demo_build) if r["task"] == "pose"]
    assert len(pairs) >= 12 and len(set(pairs)) == len(pairs)


def test_two_point_letters_read_as_their_own_points(demo_build):
    """Each letter is clearly nearer its own point than the other, as the image shows it."""
    from datagen.markers import LABEL_NEARNESS_RATIO, MARKERS, label_centre

    checked = 0
    for record in iter_records(demo_build):
        if record["task"] != "two_point":
            continue
        width, height = record["camera"][4:6]
        pixels = np.asarray(record["label"]["pixels"])
        layout = MARKERS.get(record["provenance"]["marker"])().layout((height, width), pixels, ["A", "B"])
        for k, parts in enumerate(layout):
            centre = label_centre(parts)
            own, other = np.hypot(*(centre - pixels[k])), np.hypot(*(centre - pixels[1 - k]))
            assert own <= LABEL_NEARNESS_RATIO * other, record["id"]
            checked += 1
    assert checked == 48
