"""Benchmark: score 1,000,000 predictions, answer parsing included (run by hand, one core).

    python bench/bench_scoring.py                 # in memory: parse + match + metrics + bootstrap
    python bench/bench_scoring.py --io            # also write a build and a predictions file, read them back
    python bench/bench_scoring.py --n 200000 --io

Outputs are generated in the styles models give (bare numbers, "7.23 m", think/answer tags,
sentences, reasoning chains for speed and time, a few unparsable answers), from a noisy
model: pred = gt * exp(N(0, 0.25)). Target: under 10 s for 1,000,000 in memory.
"""

from __future__ import annotations

import argparse
import json
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
    reference = scoring.Reference(
        Path("bench-build"), tuple(ids), gt, task_codes, TASKS, source_codes, SOURCES,
        np.zeros(n, dtype=np.int32), ("test",), unit_codes, units)
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
            handle.write(json.dumps({
                "id": record_id, "task": tasks[i], "split": "test", "images": [f"images/{i % 256:02x}/{i:012x}.jpg"],
                "question": "How far is the point marked by the red arrow from the camera, in meters?",
                "answer": f"<think> The point is around {value:.2f} meters away from the camera. </think>\n"
                          f"<answer> {value:.2f} </answer>",
                "value": value, "unit": units[i], "template_id": f"{tasks[i]}/q3+think",
                "label": {"pixels": [[812, 401]], "range_m": [value], "z_m": [value],
                          "points_cam": [[0.1, 0.2, value]]},
                "camera": [1000.0, 1000.0, 640.5, 190.2, 1242, 375],
                "provenance": {"source": sources[i], "frames": [record_id.rsplit("/", 2)[0]], "depth_from": "lidar",
                               "transforms": [["resize", 1.4409]], "seed": 1234}}) + "\n")
    with (folder / "model.jsonl").open("w", encoding="utf-8") as handle:
        for record_id, output in zip(predictions.ids, predictions.outputs):
            handle.write(json.dumps({"id": record_id, "output": output}) + "\n")
    return build


def timed(label: str, func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    print(f"{label:<44} {time.perf_counter() - start:7.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--io", action="store_true", help="also write and read the files")
    args = parser.parse_args()
    reference, predictions = timed(f"generate {args.n:,} outputs (not scored)", generate, args.n)
    timed("parse only", scoring.parse_answers, predictions.outputs, None)
    report = timed("score in memory (parse, match, metrics, CIs)", scoring.score_predictions, predictions, reference,
                   bootstrap=args.bootstrap)
    print(scoring.format_table([report]), end="")
    print(f"parse outcomes: {report.reasons}")
    if args.io:
        with tempfile.TemporaryDirectory() as tmp:
            build = timed("write build + predictions (not scored)", write_files, Path(tmp), reference, predictions)
            ref = timed("load_reference (full canonical records)", scoring.load_reference, build)
            preds = timed("read_predictions", scoring.read_predictions, Path(tmp) / "model.jsonl")
            timed("score_predictions after reading", scoring.score_predictions, preds, ref, bootstrap=args.bootstrap)


if __name__ == "__main__":
    main()
