"""Ray's overhead against the local engine on one machine, and the cost of one shard of real nuScenes keyframes.

Run by hand: ``python bench/bench_engines.py [--frames 32] [--workers 2]`` (needs the ``ray`` extra and, for the
nuScenes part, the shared samples in ../shared/data). Three parts, each in a fresh Python process:

1. records per second of the same synthetic build (bundled scenes, shards of 4 frames) with the local
   engine (``--workers`` spawned processes) and with Ray (a local instance of ``--workers`` CPUs). Ray's
   start is timed apart: the ratio without it is what a long build on a cluster pays per shard.
2. the same build into a folder and into an S3 API on 127.0.0.1 (moto's server, if installed), local engine,
   one worker: what the object-store path costs over a folder, request overhead included (not network).
3. seconds, records and bytes per frame of the real nuScenes keyframe (six 1600x900 cameras, one LiDAR
   sweep; the mmdetection3d demo sample written in the official layout), one worker on one core, default
   tasks and sampling, after a warm-up build: the per-shard cost docs/cluster.md scales to all of nuScenes.

Ratios within one run are what to compare (shared machines are noisy).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ENGINE_RUN = """
import json, os, sys, tempfile, time
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # a local Ray on 127.0.0.1
sys.path.insert(0, sys.argv[4])
from datagen.config import load_config
from datagen.pipeline import build
engine, frames, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
config = load_config(None, {"source": "synthetic", "frames": frames, "seed": 1, "shard_size": 4})
start_s = 0.0
if engine == "ray":
    import ray
    started = time.perf_counter()
    ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False)
    start_s = time.perf_counter() - started
with tempfile.TemporaryDirectory() as out:
    started = time.perf_counter()
    manifest = build(config, out, workers=workers, engine=engine)
    print(json.dumps({"seconds": time.perf_counter() - started, "start_s": start_s,
                      "records": manifest["counts"]["total"]}))
"""

STORE_RUN = """
import json, sys, tempfile, time
sys.path.insert(0, sys.argv[3])
import boto3
from moto.server import ThreadedMotoServer
from datagen.config import load_config
from datagen.pipeline import build
from datagen.store import ObjectStore
frames, kind = int(sys.argv[1]), sys.argv[2]
config = load_config(None, {"source": "synthetic", "frames": frames, "seed": 1, "shard_size": 4})
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
endpoint = f"http://{host}:{port}"
boto3.client("s3", aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1",
             endpoint_url=endpoint).create_bucket(Bucket="bench")
options = {"key": "x", "secret": "x", "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
with tempfile.TemporaryDirectory() as folder:
    out = ObjectStore("s3://bench/build", options) if kind == "s3" else folder
    started = time.perf_counter()
    manifest = build(config, out)
    print(json.dumps({"seconds": time.perf_counter() - started, "records": manifest["counts"]["total"]}))
server.stop()
"""

NUSCENES_RUN = """
import json, os, sys, tempfile, time
os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from tests.sources.nuscenes_files import write_demo
from datagen.config import load_config
from datagen.pipeline import build
shared = Path(sys.argv[2])
with tempfile.TemporaryDirectory() as tmp:
    root = Path(tmp) / "nuscenes"
    write_demo(root, shared).write(root)
    config = load_config(None, {"source": "nuscenes", "root": str(root), "seed": 1, "shard_size": 6})
    build(config, Path(tmp) / "warm")
    out = Path(tmp) / "out"
    started = time.perf_counter()
    manifest = build(config, out)
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and ".datagen" not in p.parts)
    images = sum(1 for p in (out / "images").rglob("*") if p.is_file())
    print(json.dumps({"seconds": seconds, "frames": manifest["frames"]["planned"],
                      "records": manifest["counts"]["total"], "bytes": size, "images": images}))
"""


def _child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True,
                         cwd=REPO).stdout
    return json.loads(out.strip().splitlines()[-1])


def engines(frames: int, workers: int) -> None:
    _child(ENGINE_RUN, "local", "2", "1", str(REPO))  # warm-up: fills numba's on-disk cache
    print(f"{'engine':>7} {'workers':>8} {'start s':>8} {'build s':>8} {'records':>8} {'records/s':>10}")
    rates = {}
    for engine in ("local", "ray"):
        result = _child(ENGINE_RUN, engine, str(frames), str(workers), str(REPO))
        rates[engine] = (result["records"] / result["seconds"],
                         result["records"] / (result["seconds"] + result["start_s"]))
        print(f"{engine:>7} {workers:>8} {result['start_s']:>8.2f} {result['seconds']:>8.2f} {result['records']:>8} "
              f"{rates[engine][0]:>10.1f}")
    print(f"Ray / local records per second: {rates['ray'][0] / rates['local'][0]:.2f}x with Ray already running, "
          f"{rates['ray'][1] / rates['local'][1]:.2f}x counting its start")


def stores(frames: int) -> None:
    try:
        import moto  # noqa: F401
    except ImportError:
        print("(moto not installed: object-store part skipped)")
        return
    results = {kind: _child(STORE_RUN, str(frames), kind, str(REPO)) for kind in ("folder", "s3")}
    for kind, result in results.items():
        print(f"{kind:>7}: {result['seconds']:.2f} s, {result['records']} records, "
              f"{result['records'] / result['seconds']:.1f} records/s")
    print(f"S3 API on 127.0.0.1 / folder, build seconds: {results['s3']['seconds'] / results['folder']['seconds']:.2f}x")


def nuscenes(shared: Path) -> None:
    if not (shared / "nuscenes_mmdet3d_demo").is_dir():
        print(f"(no {shared}/nuscenes_mmdet3d_demo: nuScenes part skipped)")
        return
    result = _child(NUSCENES_RUN, str(REPO), str(shared))
    frames = result["frames"]
    print(f"nuScenes keyframe, one core: {result['seconds'] / frames:.3f} s per camera frame, "
          f"{result['records'] / frames:.1f} records, {result['images'] / frames:.1f} images and "
          f"{result['bytes'] / frames / 1e6:.2f} MB written per frame ({frames} frames, one shard)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    engines(args.frames, args.workers)
    stores(args.frames)
    nuscenes(args.shared)


if __name__ == "__main__":
    main()
