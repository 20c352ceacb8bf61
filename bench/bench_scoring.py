"""Benchmark: score 1,000,000 predictions, answer parsing included (run by hand, one core).

    python bench/bench_scoring.py                 # in memory: parse + match + metrics + bootstrap
    python bench/bench_scoring.py --io            # also write a build and a predictions file, read them back
    python bench/bench_scoring.py --n 200000 --io
    python bench/bench_scoring.py --n 200000 --before main --long-mb 0.1,0.2,0.4,0.8,4,16
        # also parse the same outputs, and single outputs of 0.1 to 16 MB (up to --before-max-mb for the old
        # one), with datagen/scoring.py as it is at git revision `main`, in the same run: the ratios compare
        # the two parsers on one machine state

Outputs are generated in the styles models give (bare numbers, "7.23 m", think/answer tags,
sentences, reasoning chains for speed and time, a few unparsable answers), from a noisy
model: pred = gt * exp(N(0, 0.25)). Target: under 10 s for 1,000,000 in memory.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from datagen import scoring
from datagen.records import MANIFEST, RECORDS_DIR, SCHEMA

TASKS = ("distance", "axis_distance", "two_point", "pose", "speed", "time")
TASK_SHARES = (0.5, 0.1, 0.1, 0.05, 0.15, 0.1)
SOURCES = ("kitti", "nuscenes", "argoverse2", "ddad", "scannet")
GARBAGE = ("I cannot tell from this image.", "about 3 and a half meters", "", "5 to 7 m", "far away")


def metre_output(style: int, pred: float) -> str:
    """One answer to a metre question, in one of six styles."""
    if style == 0:
        return f"{pred:.2f}"
    if style == 1:
        return f"{pred:.2f} m"
    if style == 2:
        return (f"<think> The point is around {pred:.2f} meters away from the camera. </think>\n"
                f"<answer> {pred:.2f} </answer>")
    if style == 3:
        return f"The point is around {pred:.2f} meters away from the camera."
    if style == 4:
        return f"<answer> {pred:.2f} m </answer>"
    return f"The answer is {pred:.2f} meters."


def chain_output(task: str, style: int, pred: float, rng_value: float) -> str:
    """A speed or time answer: a reasoning chain (half the time) or a short answer."""
    unit = "m/s" if task == "speed" else "seconds"
    if style % 2:
        return f"{pred:.2f} {unit}"
    other = max(round(rng_value, 1), 0.5)
    distance = pred * other
    if task == "speed":
        return (f"The point is around {distance:.2f} meters away. Hence, the speed should be around "
                f"{distance:.2f} / {other} = {pred:.2f} m/s")
    return (f"The point is around {distance:.2f} meters away. Hence, it takes "
            f"{distance:.2f} / {other} = {pred:.2f} seconds.")


def generate(n: int, seed: int = 0):
    """(reference, predictions) of n records with realistic outputs."""
    rng = np.random.default_rng(seed)
    task_codes = rng.choice(len(TASKS), size=n, p=TASK_SHARES).astype(np.int32)
    source_codes = rng.integers(0, len(SOURCES), n).astype(np.int32)
    gt = np.where(task_codes < 4, rng.lognormal(2.0, 0.9, n), rng.lognormal(0.7, 0.6, n))
    pred = gt * np.exp(rng.normal(0.0, 0.25, n))
    styles, others, garbage = rng.integers(0, 6, n), rng.uniform(0.5, 8.0, n), rng.random(n) < 0.02
    ids, outputs = [], []
    for i in range(n):
        task = TASKS[task_codes[i]]
        ids.append(f"{SOURCES[source_codes[i]]}/seq_{i // 500:04d}/{i:07d}/{task}/0")
        if garbage[i]:
            outputs.append(GARBAGE[i % len(GARBAGE)])
        elif task_codes[i] < 4:
            outputs.append(metre_output(int(styles[i]), float(pred[i])))
        else:
            outputs.append(chain_output(task, int(styles[i]), float(pred[i]), float(others[i])))
    units = ("m", "m/s", "s")
    unit_codes = np.where(task_codes < 4, 0, np.where(task_codes == 4, 1, 2)).astype(np.int32)
    depths = np.where(task_codes < 2, gt, np.where(task_codes < 4, np.nan, gt * others))  # speed, time: range
    reference = scoring.Reference(
        Path("bench-build"), tuple(ids), gt, task_codes, TASKS, source_codes, SOURCES,
        np.zeros(n, dtype=np.int32), ("test",), unit_codes, units, depths)
    return reference, scoring.Predictions(Path("bench.jsonl"), ids, outputs)


def write_files(folder: Path, reference: scoring.Reference, predictions: scoring.Predictions) -> Path:
    """A build folder with full canonical records, and a predictions JSONL file."""
    build = folder / "build"
    (build / RECORDS_DIR).mkdir(parents=True)
    (build / MANIFEST).write_text(json.dumps({"schema": SCHEMA}), encoding="utf-8")
    tasks, sources, units = reference.column("task"), reference.column("source"), reference.column("unit")
    with (build / RECORDS_DIR / "part-00000.jsonl").open("w", encoding="utf-8") as handle:
        for i, record_id in enumerate(reference.ids):
            value = float(reference.values[i])
            depth = float(reference.depths[i]) if np.isfinite(reference.depths[i]) else value
            handle.write(json.dumps({
                "id": record_id, "task": tasks[i], "split": "test", "images": [f"images/{i % 256:02x}/{i:012x}.jpg"],
                "question": "How far is the point marked by the red arrow from the camera, in meters?",
                "answer": f"<think> The point is around {value:.2f} meters away from the camera. </think>\n"
                          f"<answer> {value:.2f} </answer>",
                "value": value, "unit": units[i], "template_id": f"{tasks[i]}/q3+think",
                "label": {"pixels": [[812, 401]], "range_m": [depth], "z_m": [depth],
                          "points_cam": [[0.1, 0.2, depth]]},
                "camera": [1000.0, 1000.0, 640.5, 190.2, 1242, 375],
                "provenance": {"source": sources[i], "frames": [record_id.rsplit("/", 2)[0]], "depth_from": "lidar",
                               "transforms": [["resize", 1.4409]], "seed": 1234}}) + "\n")
    with (folder / "model.jsonl").open("w", encoding="utf-8") as handle:
        for record_id, output in zip(predictions.ids, predictions.outputs):
            handle.write(json.dumps({"id": record_id, "output": output}) + "\n")
    return build


def timed(label: str, func, *args, **kwargs):
    result, seconds = _run_timed(func, *args, **kwargs)
    print(f"{label:<44} {seconds:7.2f} s")
    return result


def _run_timed(func, *args, **kwargs):
    start = time.process_time()  # CPU time: the machine is shared, wall time measures the neighbours
    result = func(*args, **kwargs)
    return result, time.process_time() - start


def load_parser_at(revision: str):
    """``datagen/scoring.py`` as it is at a git revision, imported as a separate module (single-file layout)."""
    root = Path(__file__).resolve().parents[1]
    try:
        source = subprocess.run(["git", "show", f"{revision}:datagen/scoring.py"], cwd=root, check=True,
                                capture_output=True, text=True).stdout
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"--before {revision}: no datagen/scoring.py there ({exc.stderr.strip()})") from None
    path = Path(tempfile.mkdtemp()) / f"scoring_at_{revision.replace('/', '_')}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def long_output(megabytes: float) -> str:
    """A runaway reasoning output of about ``megabytes`` MB that ends with its answer."""
    step = ("The point is around 7.23 meters away (pixel (812, 401)). Hence, the speed should be around "
            "7.23 / 4.0 = 1.81 m/s, not 2.5 m/s. ")
    return step * max(1, int(megabytes * 2**20 / len(step))) + "The answer is 1.75 m/s."


def compare_parsers(before, outputs: list, sizes: list[float], before_max_mb: float) -> None:
    """Parse the same outputs with both parsers; print CPU seconds and before / after ratios.

    Single outputs over ``before_max_mb`` are parsed with the new parser only (the old one is quadratic).
    """
    print(f"\nparsers compared in this run (CPU s): before = {before.__name__}, after = this checkout")
    _, old = _run_timed(before.parse_answers, outputs, None)
    _, new = _run_timed(scoring.parse_answers, outputs, None)
    print(f"{len(outputs):,} bench outputs{'':<26} before {old:7.2f}  after {new:7.2f}  ratio {old / new:6.2f}")
    for megabytes in sizes:
        text = long_output(megabytes)
        value_new, new = _run_timed(scoring.parse_value, text, "m/s")
        if megabytes > before_max_mb:
            print(f"one {len(text) / 2**20:5.2f} MB output{'':<25} before    (not run)  after {new:7.2f}  "
                  f"(value {value_new})")
            continue
        value_old, old = _run_timed(before.parse_value, text, "m/s")
        print(f"one {len(text) / 2**20:5.2f} MB output{'':<25} before {old:7.2f}  after {new:7.2f}  "
              f"ratio {old / max(new, 1e-9):6.1f}   (values {value_old} / {value_new})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--io", action="store_true", help="also write and read the files")
    parser.add_argument("--before", metavar="REV", help="also time the parser of datagen/scoring.py at git REV")
    parser.add_argument("--long-mb", default="0.1,0.2,0.4", help="sizes (MB) of single long outputs to parse")
    parser.add_argument("--before-max-mb", type=float, default=2.0,
                        help="largest single output the --before parser is timed on (it is quadratic)")
    args = parser.parse_args()
    reference, predictions = timed(f"generate {args.n:,} outputs (not scored)", generate, args.n)
    timed("parse only", scoring.parse_answers, predictions.outputs, None)
    report = timed("score in memory (parse, match, metrics, CIs)", scoring.score_predictions, predictions, reference,
                   bootstrap=args.bootstrap)
    print(scoring.format_table([report]), end="")
    print(f"parse outcomes: {report.reasons}")
    sizes = [float(size) for size in args.long_mb.split(",") if size.strip()]
    if args.before:
        compare_parsers(load_parser_at(args.before), predictions.outputs, sizes, args.before_max_mb)
    else:
        for megabytes in sizes:
            timed(f"one {megabytes:g} MB output", scoring.parse_value, long_output(megabytes), "m/s")
    if args.io:
        with tempfile.TemporaryDirectory() as tmp:
            build = timed("write build + predictions (not scored)", write_files, Path(tmp), reference, predictions)
            ref = timed("load_reference (full canonical records)", scoring.load_reference, build)
            preds = timed("read_predictions", scoring.read_predictions, Path(tmp) / "model.jsonl")
            timed("score_predictions after reading", scoring.score_predictions, preds, ref, bootstrap=args.bootstrap)


if __name__ == "__main__":
    main()
