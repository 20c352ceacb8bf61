"""Benchmark: training throughput (samples/s, tokens/s) and peak memory of the bundled trainer.

    python bench/bench_train.py                                  # tiny random Qwen2.5-VL on the CPU
    python bench/bench_train.py --batch-sizes 1,2,4 --steps 12
    python bench/bench_train.py --shape 3b --device cuda --precision bf16 --image-px 812 \\
        --batch-sizes 1,4 --steps 20 --peak-tflops 989          # Qwen2.5-VL-3B shape, random weights, on a GPU

Each batch size is one `datagen train` run (LoRA by default, ``--full`` for full fine-tuning)
on a small synthetic build whose images are at most ``--image-px`` a side (cropped, never
rescaled: the focal length stays 1000 px); the first step is left out of the rates (warm-up).
Rates are reported with their ratio to the first batch size of the same run. Peak memory is
the GPU's peak allocation on CUDA, the process's peak resident size on the CPU. With
``--peak-tflops`` (the device's dense bf16 peak) it also gives the model FLOPs utilisation,
counting 6 x parameters FLOPs per token for full fine-tuning and 4 x for LoRA (no weight
gradients of the frozen model), the embedding table left out: an approximation.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datagen.config import load_config  # noqa: E402
from datagen.pipeline import build  # noqa: E402


def make_build(folder: Path, frames: int, image_px: int) -> Path:
    """Distance records of the bundled synthetic scenes, images cropped to at most image_px a side."""
    config = load_config(None, {"source": "synthetic", "frames": frames, "seed": 7,
                                "tasks": ["distance", "axis_distance"], "split_ratios": [1.0, 0.0, 0.0],
                                "source_options": {"lidar": False}, "sampling": {"points_per_frame": 2},
                                "normalize": {"max_side_px": image_px}})
    build(config, folder)
    return folder


def run_one(model: str, data: Path, out: Path, args, batch_size: int) -> dict:
    import torch

    from datagen.train.loop import train
    from datagen.train.options import TrainOptions

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    options = TrainOptions(model=model, data=data, out=out, lora=not args.full, batch_size=batch_size,
                           max_steps=args.steps, save_every=10 ** 6, device=args.device, precision=args.precision,
                           max_pixels=args.image_px ** 2, lr=1e-4)
    result = train(options)
    timed = result.history[1:] or result.history
    seconds = sum(h.seconds for h in timed)
    row = {"batch_size": batch_size, "steps": len(timed), "samples_per_s": sum(h.samples for h in timed) / seconds,
           "tokens_per_s": sum(h.tokens for h in timed) / seconds,
           "tokens_per_sample": sum(h.tokens for h in timed) / sum(h.samples for h in timed)}
    if torch.cuda.is_available() and args.device != "cpu":
        row["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    else:
        row["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # kB on Linux
    return row


def model_flops_per_token(model_dir: Path, full: bool) -> float:
    """6 (full) or 4 (LoRA) x the parameters, leaving out the embedding table: a look-up, and as the tied
    output head it runs on the answer tokens only."""
    from safetensors import safe_open

    parameters = 0
    for shard in model_dir.glob("*.safetensors"):
        with safe_open(str(shard), "pt") as handle:
            for name in handle.keys():
                if "embed_tokens" not in name:
                    parameters += math.prod(handle.get_slice(name).get_shape())
    return (6 if full else 4) * parameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=("tiny", "3b"), default="tiny")
    parser.add_argument("--batch-sizes", default="1,4", help="comma-separated batch sizes, one run each")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--frames", type=int, default=8, help="frames of the synthetic build (2 points each)")
    parser.add_argument("--image-px", type=int, default=140, help="largest image side (a multiple of 28)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    parser.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak")
    parser.add_argument("--work", type=Path, default=None, help="keep the build and model here (default: temp)")
    args = parser.parse_args()

    from datagen.train.tiny import build_tiny_model

    with tempfile.TemporaryDirectory(prefix="bench-train-") as scratch:
        work = args.work or Path(scratch)
        data = work / "build"
        if not data.is_dir():
            make_build(data, args.frames, args.image_px)
        model_dir = work / f"model-{args.shape}"
        if not (model_dir / "config.json").is_file():
            started = time.perf_counter()
            on_gpu = args.shape == "3b" and args.device != "cpu"
            build_tiny_model(model_dir, shape=args.shape, device="cuda" if on_gpu else "cpu",
                             dtype="bfloat16" if args.shape == "3b" else "float32")
            print(f"built the random {args.shape} model in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        flops = model_flops_per_token(model_dir, args.full)
        rows = []
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            row = run_one(str(model_dir), data, work / f"run-{batch_size}-{time.time_ns()}", args, batch_size)
            row["tflops"] = row["tokens_per_s"] * flops / 1e12
            if args.peak_tflops:
                row["mfu"] = row["tflops"] / args.peak_tflops
            rows.append(row)
    base = rows[0]
    print(f"{args.shape} model, {'full fine-tuning' if args.full else 'LoRA'}, images <= {args.image_px} px, "
          f"{args.steps} steps per run (first left out)")
    for row in rows:
        memory = (f"peak GPU memory {row['peak_memory_gib']:.2f} GiB" if "peak_memory_gib" in row
                  else f"peak RSS {row['peak_rss_gib']:.2f} GiB")
        mfu = f", MFU {row['mfu']:.1%}" if "mfu" in row else ""
        print(f"  batch {row['batch_size']}: {row['samples_per_s']:.2f} samples/s "
              f"(x{row['samples_per_s'] / base['samples_per_s']:.2f}), {row['tokens_per_s']:.0f} tokens/s "
              f"({row['tokens_per_sample']:.0f} per sample), {row['tflops']:.3g} TFLOP/s{mfu}, {memory}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
