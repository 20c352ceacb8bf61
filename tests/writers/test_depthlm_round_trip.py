"""Import a DepthLM curated file, build, export depthlm: the labels come back, after the recorded resize."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datagen.config import load_config
from datagen.pipeline import build
from datagen.writers.base import export

LINES = 3


@pytest.mark.parametrize("kind", ["z", "range"])
def test_import_build_export_gives_the_input_labels_back(shared_data, tmp_path, kind):
    root = shared_data / "ibims1_depthlm"
    with (root / "ibims1_val.jsonl").open() as handle:
        inputs = [json.loads(next(handle)) for _ in range(LINES)]
    config = load_config(None, {
        "source": "depthlm", "root": str(root), "tasks": ["distance"], "splits": ["val"],
        "source_options": {"limit": LINES, "depth_kind": kind}, "normalize": {"processor": "none"},
        "sampling": {"points_per_frame": 1000, "avoid_edges": False, "strategy": "uniform", "margin_px": 0,
                     "min_depth_m": 0.01}})
    build(config, tmp_path / "build")
    report = export(tmp_path / "build", "depthlm", tmp_path / "export", variant=kind)
    exported = [json.loads(line) for path in report.files for line in path.read_text().splitlines()]
    assert len(exported) == LINES
    for line, out in zip(inputs, exported):
        assert out["intrinsics"][:2] == [1000.0, 1000.0]
        scale = 1000.0 / np.asarray(line["intrinsics"][:2])  # the recorded transform: one resize, fx and fy to 1000
        mapped = (np.asarray(line["pixel_coords"], float) + 0.5) * scale - 0.5
        expected_pixels = np.floor(mapped + 0.5)  # the nearest pixel centre
        got = {tuple(p): d for p, d in zip(out["pixel_coords"], out["depth"])}
        assert len(got) == len(line["depth"])  # every label survives (upscaling keeps pixels distinct)
        for pixel, depth in zip(expected_pixels.astype(int).tolist(), line["depth"]):
            if kind == "z":
                assert got[tuple(pixel)] == pytest.approx(depth, rel=1e-12)
            else:  # range moves with the half-pixel snap of its ray: at most 0.5*sqrt(2)/1000 relative
                assert got[tuple(pixel)] == pytest.approx(depth, rel=4e-4)
