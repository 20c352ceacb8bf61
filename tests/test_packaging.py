"""The wheel carries the templates, scene recipes and source data files, and `import datagen` stays light."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_templates_scenes_and_the_cli(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("datagen-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for folder in ("templates", "scenes"):
        bundled = {Path(n).name for n in names if n.startswith(f"datagen/_data/{folder}/")}
        shipped = {p.name for p in (ROOT / folder).glob("*.yaml")}
        assert shipped and shipped <= bundled, folder
    assert "datagen/sources/data/nuscenes_splits.json" in names  # the nuScenes scene split, read at run time
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "datagen = datagen.cli:main" in entry_points


def test_import_datagen_loads_no_heavy_dependency():
    code = ("import sys, datagen, datagen.cli; heavy = {'torch', 'ray', 's3fs', 'botocore', 'open3d', 'pyrender', "
            "'OpenGL', 'transformers', 'trimesh'}; print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
