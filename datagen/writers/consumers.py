"""What each trainer does to an image by default, and the settings that keep it as built.

A build's images have one focal length (1000 px by default) and, with a processor preset
(``normalize.processor``), sizes the model's processor passes unchanged. The trainers then
apply their own limits first; with their defaults they rescale (LLaMA-Factory to
589,824 pixels, Qwen's fine-tuning code to 451,584) or truncate (TRL's 1,024 tokens). Each
export therefore writes a ready settings snippet beside its data, and ``datagen export``
warns, with numbers, where a consumer's documented default would change the images.

The defaults, from each consumer's code:

* LLaMA-Factory ``ProcessorArguments``: ``image_max_pixels = 768 * 768``, ``image_min_pixels =
  32 * 32`` (an image outside is rescaled by sqrt(limit / pixels) before the model's own
  processor); ``cutoff_len = 2048``.
* ms-swift: ``MAX_PIXELS = 16384 * 28 * 28``, ``MIN_PIXELS = 4 * 28 * 28`` (environment
  variables read by its Qwen-VL templates, then ``smart_resize`` with factor 28).
* TRL ``SFTConfig.max_length = 1024`` (truncates image tokens and the answer); the Qwen
  processors' own ``min_pixels = 3136``, ``max_pixels = 12845056``.
* Qwen's ``qwen-vl-finetune``: ``max_pixels = 28 * 28 * 576``, ``min_pixels = 28 * 28 * 16``.
* InternVL ``dynamic_preprocess``: resizes to the 448 px tile grid nearest in aspect ratio
  (at most ``max_dynamic_patch`` tiles) and adds a 448 x 448 thumbnail.
* LLaVA-1.5 (CLIP ViT-L/14-336): short side resized to 336, centre crop 336 x 336.
* OpenAI vision fine-tuning (``detail: high``): scaled to fit 2048 x 2048, then the short
  side to 768 px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from datagen.records import iter_frames_index, read_manifest

#: Pixels of a Qwen2-VL-style visual token: 14 px patches merged 2 x 2.
QWEN_TOKEN_PX = 28
#: Tokens left for the question, the answer and the chat template, on top of the image tokens.
TEXT_TOKENS = 512

LLAMAFACTORY_MAX_PIXELS = 768 * 768
LLAMAFACTORY_MIN_PIXELS = 32 * 32
LLAMAFACTORY_CUTOFF_LEN = 2048
SWIFT_MAX_PIXELS = 16384 * 28 * 28
SWIFT_MIN_PIXELS = 4 * 28 * 28
TRL_MAX_LENGTH = 1024
QWEN_PROCESSOR_MIN_PIXELS = 56 * 56
QWEN_PROCESSOR_MAX_PIXELS = 16384 * 28 * 28
QWEN_FINETUNE_MAX_PIXELS = 28 * 28 * 576
QWEN_FINETUNE_MIN_PIXELS = 28 * 28 * 16
INTERNVL_TILE_PX = 448
LLAVA_SIZE = (336, 336)
OPENAI_FIT_PX = 2048
OPENAI_SHORT_SIDE_PX = 768


@dataclass(frozen=True)
class ImageStats:
    """The sizes of a build's images (one per built frame; every marked image has its frame's size).

    Attributes:
        sizes: (width, height) of every frame's normalised image.
        focal_px: the unified focal length of the build.
        images_per_record: the most images one record shows (2 with the pose task).
    """

    sizes: tuple
    focal_px: float = 1000.0
    images_per_record: int = 1

    @classmethod
    def of_build(cls, build_dir: Path) -> "ImageStats":
        sizes, focal = [], 1000.0
        for frame in iter_frames_index(build_dir):
            fx, _, _, _, width, height = frame["camera"]
            sizes.append((int(width), int(height)))
            focal = float(fx)
        tasks = read_manifest(build_dir).get("counts", {}).get("by_task", {})
        return cls(tuple(sizes), focal, 2 if tasks.get("pose") else 1)

    @property
    def pixels(self) -> list[int]:
        return [w * h for w, h in self.sizes]

    @property
    def max_pixels(self) -> int:
        return max(self.pixels, default=0)

    @property
    def min_pixels(self) -> int:
        return min(self.pixels, default=0)

    def on_grid(self, multiple: int) -> bool:
        return all(w % multiple == 0 and h % multiple == 0 for w, h in self.sizes)

    def qwen_tokens(self) -> int:
        """Tokens of the longest record for a Qwen2-VL-style model (image tokens + text), rounded up."""
        image = math.ceil(self.max_pixels / QWEN_TOKEN_PX ** 2)
        return 256 * math.ceil((self.images_per_record * image + TEXT_TOKENS) / 256)

    def pixel_limits(self, floor: int) -> tuple[int, int]:
        """(min_pixels, max_pixels) settings that pass every image unchanged: min_pixels at most
        ``floor`` (the consumer's default min_pixels), max_pixels at least it (never below the minimum)."""
        return min(self.min_pixels, floor), max(self.max_pixels, floor)


@dataclass(frozen=True)
class Settings:
    """What an export writes for its consumer: a snippet file, and warnings for the user."""

    file_name: str | None
    text: str
    warnings: tuple[str, ...] = ()


def _shrunk(stats: ImageStats, limit: int, who: str, setting: str) -> list[str]:
    """A warning if images exceed ``limit`` pixels and a consumer would rescale them."""
    over = [p for p in stats.pixels if p > limit]
    if not over:
        return []
    low, high = math.sqrt(limit / max(over)), math.sqrt(limit / min(over))
    return [f"{len(over)} of {len(stats.sizes)} images exceed {who}'s default {setting} {limit:,} and would be "
            f"shrunk by {low:.2f}-{high:.2f} (focal length {stats.focal_px * low:.0f}-{stats.focal_px * high:.0f} px "
            f"instead of {stats.focal_px:.0f}): use the settings written beside the export"]


def _cut(stats: ImageStats, limit: int, who: str, setting: str, fix: str) -> list[str]:
    """A warning if the longest record needs more tokens than a consumer's default length ``limit`` keeps."""
    if stats.qwen_tokens() <= limit:
        return []
    return [f"the longest record needs about {stats.qwen_tokens()} tokens with a Qwen2-VL-style model; {who}'s "
            f"default {setting} {limit} truncates it: {fix}"]


def _off_grid(stats: ImageStats, who: str) -> list[str]:
    if stats.on_grid(QWEN_TOKEN_PX):
        return []
    off = sum(1 for w, h in stats.sizes if w % QWEN_TOKEN_PX or h % QWEN_TOKEN_PX)
    return [f"{off} of {len(stats.sizes)} images have a side that is not a multiple of {QWEN_TOKEN_PX} px: {who}'s "
            f"Qwen-VL processor rounds each side separately, so fx and fy change and differ; build with "
            f"normalize.processor: qwen2.5-vl (the default)"]


def llamafactory(stats: ImageStats) -> Settings:
    low, high = stats.pixel_limits(LLAMAFACTORY_MIN_PIXELS)
    text = (f"# LLaMA-Factory training YAML settings that keep every image of this build as built\n"
            f"# (fx = fy = {stats.focal_px:g} px): merge them into your config.\n"
            f"image_max_pixels: {high}\n"
            f"image_min_pixels: {low}\n"
            f"cutoff_len: {max(stats.qwen_tokens(), LLAMAFACTORY_CUTOFF_LEN)}\n")
    warnings = (_shrunk(stats, LLAMAFACTORY_MAX_PIXELS, "LLaMA-Factory", "image_max_pixels")
                + _cut(stats, LLAMAFACTORY_CUTOFF_LEN, "LLaMA-Factory", "cutoff_len", "set cutoff_len")
                + _off_grid(stats, "LLaMA-Factory"))
    return Settings("llamafactory_settings.yaml", text, tuple(warnings))


def swift(stats: ImageStats) -> Settings:
    low, high = stats.pixel_limits(SWIFT_MIN_PIXELS)
    text = (f"# ms-swift: environment variables that keep every image of this build as built\n"
            f"# (fx = fy = {stats.focal_px:g} px), and a max_length that holds the longest record.\n"
            f"export MAX_PIXELS={high}\n"
            f"export MIN_PIXELS={low}\n"
            f"# swift sft ... --max_length {stats.qwen_tokens()}\n")
    warnings = _shrunk(stats, SWIFT_MAX_PIXELS, "ms-swift", "MAX_PIXELS") + _off_grid(stats, "ms-swift")
    return Settings("swift_settings.sh", text, tuple(warnings))


def trl(stats: ImageStats) -> Settings:
    low, high = stats.pixel_limits(QWEN_PROCESSOR_MIN_PIXELS)
    text = (f"# TRL SFTTrainer settings that keep every image of this build as built (fx = fy = {stats.focal_px:g} px)\n"
            f"# and train on whole records: no truncation through the image tokens or the answer.\n"
            f"from transformers import AutoProcessor\n"
            f"from trl import SFTConfig\n\n"
            f"processor = AutoProcessor.from_pretrained(MODEL, min_pixels={low}, max_pixels={high})\n"
            f"config = SFTConfig(max_length=None)  # TRL's default 1024 truncates; the longest record needs "
            f"about {stats.qwen_tokens()} tokens\n")
    warnings = (_shrunk(stats, QWEN_PROCESSOR_MAX_PIXELS, "the Qwen processor", "max_pixels")
                + _cut(stats, TRL_MAX_LENGTH, "TRL", "max_length", "set SFTConfig(max_length=None)")
                + _off_grid(stats, "TRL"))
    return Settings("trl_settings.py", text, tuple(warnings))


def qwen(stats: ImageStats) -> Settings:
    low, high = stats.pixel_limits(QWEN_FINETUNE_MIN_PIXELS)
    text = (f"# Arguments of Qwen's qwen-vl-finetune (qwenvl/train/train_qwen.py) that keep every image of\n"
            f"# this build as built (fx = fy = {stats.focal_px:g} px):\n"
            f"--max_pixels {high} --min_pixels {low} --model_max_length {stats.qwen_tokens()}\n")
    warnings = _shrunk(stats, QWEN_FINETUNE_MAX_PIXELS, "qwen-vl-finetune", "max_pixels") + _off_grid(stats, "Qwen")
    return Settings("qwen_settings.txt", text, tuple(warnings))


def internvl(stats: ImageStats) -> Settings:
    tiles = max((w // INTERNVL_TILE_PX) * (h // INTERNVL_TILE_PX) for w, h in stats.sizes)
    text = (f"# InternVL internvl_chat fine-tuning arguments for this build:\n"
            f"--force_image_size {INTERNVL_TILE_PX} --dynamic_image_size True --max_dynamic_patch {max(tiles, 1)} "
            f"--use_thumbnail False\n"
            f"# use_thumbnail False: the 448 x 448 thumbnail of a multi-tile image is a downscaled second view.\n")
    warnings = []
    if not stats.on_grid(INTERNVL_TILE_PX):
        warnings.append(f"InternVL resizes every image to its {INTERNVL_TILE_PX} px tile grid; these images are not on "
                        f"it, so the model sees another focal length: build with normalize.processor: internvl")
    return Settings("internvl_settings.txt", text, tuple(warnings))


def llava(stats: ImageStats) -> Settings:
    sizes = set(stats.sizes)
    warnings = [] if sizes <= {LLAVA_SIZE} else [
        f"LLaVA-1.5's CLIP processor resizes the short side to {LLAVA_SIZE[0]} px and crops a square: these images "
        f"({len(sizes)} sizes, e.g. {next(iter(sizes))[0]}x{next(iter(sizes))[1]}) change focal length: build with "
        f"normalize.processor: llava-1.5 for 336 x 336 images"]
    return Settings(None, "", tuple(warnings))


def openai(stats: ImageStats) -> Settings:
    scales = []
    for w, h in stats.sizes:  # fit in the square, then bring the short side down to 768 px (never up)
        fit = min(1.0, OPENAI_FIT_PX / max(w, h))
        scales.append(fit * min(1.0, OPENAI_SHORT_SIDE_PX / (min(w, h) * fit)))
    shrunk = [s for s in scales if s < 1.0]
    warnings = [] if not shrunk else [
        f"{len(shrunk)} of {len(scales)} images will be scaled by OpenAI's high-detail vision input (short side "
        f"{OPENAI_SHORT_SIDE_PX} px) by {min(shrunk):.2f}-{max(shrunk):.2f}: the model sees focal lengths "
        f"{stats.focal_px * min(shrunk):.0f}-{stats.focal_px * max(shrunk):.0f} px; build with normalize.max_pixels or "
        f"crop sizes whose short side is at most {OPENAI_SHORT_SIDE_PX} px"]
    return Settings(None, "", tuple(warnings))


#: Writer name -> what its consumer needs. Formats without a documented resizing default are absent.
CONSUMERS = {"llamafactory": llamafactory, "swift": swift, "trl": trl, "qwen": qwen, "internvl": internvl,
             "llava": llava, "openai": openai}


def consumer_settings(writer_name: str, stats: ImageStats) -> Settings | None:
    """The settings snippet and warnings for one writer's consumer, or None if it has none."""
    make = CONSUMERS.get(writer_name)
    return make(stats) if make is not None and stats.sizes else None
