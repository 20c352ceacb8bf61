"""A build's canonical records as examples: images, question and answer (no torch needed).

The trainer and ``datagen predict`` read ``records/*.jsonl`` of a build folder directly;
no export is needed. Everything a run needs from the data is checked here, before any
model is loaded: the folder is a build, the selection is not empty, every record has
its fields, and every image it points to is on disk. Images are used as the build wrote
them (normalised and marked); only the model's processor may resize them.

The prompt is one user turn: one image part per image of the record, then the question
(the layout of the TRL export); the answer is one assistant turn.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from datagen.errors import DatagenError
from datagen.records import RECORDS_DIR, check_build_dir, record_files
from datagen.types import SPLITS

#: The split name that selects every record.
ALL_SPLITS = "all"
SPLIT_CHOICES = (*SPLITS, ALL_SPLITS)
_SHOWN = 5  # problems listed by name in an error message


class TrainDataError(DatagenError):
    """The build's records cannot be used for training or prediction."""


@dataclass(frozen=True)
class Example:
    """One record, ready to be turned into model input.

    Attributes:
        id: the record id.
        split: train, val or test.
        images: absolute paths of the record's images, in order.
        question, answer: the texts of the user and assistant turns.
        camera: ``[fx, fy, cx, cy, width, height]`` of the (first) image, pixels.
        where: ``records/<shard>.jsonl:<line>``, for messages.
    """

    id: str
    split: str
    images: tuple[Path, ...]
    question: str
    answer: str
    camera: tuple[float, ...]
    where: str

    def __post_init__(self) -> None:
        if not self.images:
            raise ValueError(f"Example {self.id}: needs at least one image")
        if len(self.camera) != 6:
            raise ValueError(f"Example {self.id}: camera must be [fx, fy, cx, cy, width, height], got {self.camera}")

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height) of the first image, from its camera."""
        return int(self.camera[4]), int(self.camera[5])


def prompt_messages(example: Example) -> list[dict]:
    """The user turn in the chat-template message format of Hugging Face processors."""
    content = [{"type": "image"} for _ in example.images] + [{"type": "text", "text": example.question}]
    return [{"role": "user", "content": content}]


def conversation(example: Example) -> list[dict]:
    """The user turn and the answer as the assistant turn."""
    return prompt_messages(example) + [{"role": "assistant", "content": [{"type": "text", "text": example.answer}]}]


def load_examples(build_dir: str | Path, *, split: str = "train", ids: Iterable[str] | None = None,
                  limit: int | None = None) -> list[Example]:
    """The records of a build as examples, in shard and line order, checked.

    Args:
        split: "train", "val", "test", or "all".
        ids: keep only these record ids (every one must be in the build and the split).
        limit: keep at most the first N examples (without ``ids``, the records after them are not read).

    Raises:
        NotABuildError: the folder is not a build.
        TrainDataError: a malformed record, an unknown id, an empty selection, or missing images.
    """
    if split not in SPLIT_CHOICES:
        raise TrainDataError(f"split must be one of {', '.join(SPLIT_CHOICES)}, got {split!r}")
    build = check_build_dir(build_dir)
    wanted = None if ids is None else dict.fromkeys(ids)  # ordered, and a set for look-ups
    examples, by_split = [], Counter()
    for where, record in _records(build):
        by_split[record.get("split")] += 1
        record_id = record.get("id")
        if (split == ALL_SPLITS or record.get("split") == split) and (
                wanted is None or isinstance(record_id, str) and record_id in wanted):
            examples.append(_example(record, build, where))
            if wanted is None and limit is not None and len(examples) >= limit:
                break  # the selection is not empty, so the counts of by_split are not needed
    _check_ids(build, wanted, examples, split)
    if not examples:
        have = ", ".join(f"{name} {n}" for name, n in sorted(by_split.items(), key=str)) or "no records at all"
        raise TrainDataError(f"{build}: no records of split {split!r} to use (the build has: {have})")
    examples = examples[:limit] if limit is not None else examples
    _check_images(build, examples)
    return examples


def _records(build: Path) -> Iterator[tuple[str, dict]]:
    for path in record_files(build):
        with path.open("rb") as handle:
            for line_number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{RECORDS_DIR}/{path.name}:{line_number}"
                try:
                    record = json.loads(line.decode("utf-8"))
                except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, too deep, too many digits
                    raise TrainDataError(f"{build / where}: not a JSON record ({getattr(exc, 'msg', exc)})") from None
                if not isinstance(record, dict):
                    raise TrainDataError(f"{build / where}: expected a JSON object, got {type(record).__name__}")
                yield where, record


def _example(record: dict, build: Path, where: str) -> Example:
    def field(name: str, kind: type, nonempty: bool = True):
        value = record.get(name)
        if not isinstance(value, kind) or (nonempty and not value):
            raise TrainDataError(f"{build / where}: record {record.get('id', '?')!r}: {name!r} must be a "
                                 f"non-empty {kind.__name__}, got {value!r:.80}")
        return value

    images = field("images", list)
    camera = field("camera", list)
    if not all(isinstance(image, str) and image for image in images):
        raise TrainDataError(f"{build / where}: record {record.get('id', '?')!r}: 'images' must be paths, "
                             f"got {images!r:.80}")
    if len(camera) != 6 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in camera):
        raise TrainDataError(f"{build / where}: record {record.get('id', '?')!r}: 'camera' must be "
                             f"[fx, fy, cx, cy, width, height], got {camera!r:.80}")
    return Example(id=field("id", str), split=field("split", str), images=tuple(build / image for image in images),
                   question=field("question", str), answer=field("answer", str), camera=tuple(map(float, camera)),
                   where=where)


def _check_ids(build: Path, wanted: dict[str, None] | None, examples: list[Example], split: str) -> None:
    if wanted is None:
        return
    found = {example.id for example in examples}
    unknown = [record_id for record_id in wanted if record_id not in found]
    if unknown:
        raise TrainDataError(f"{build}: {len(unknown)} requested ids are not records of split {split!r}: "
                             f"{', '.join(unknown[:_SHOWN])}{' ...' if len(unknown) > _SHOWN else ''}")


def _check_images(build: Path, examples: list[Example]) -> None:
    missing = [(example, image) for example in examples for image in example.images if not image.is_file()]
    if missing:
        example, image = missing[0]
        more = f" ({len(missing)} missing images in all)" if len(missing) > 1 else ""
        raise TrainDataError(f"{build / example.where}: record {example.id!r}: image "
                             f"{image.relative_to(build)} not found in {build}{more}")


def read_ids(path: str | Path) -> list[str]:
    """Record ids from a text file, one per line (blank lines and ``#`` comments ignored)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TrainDataError(f"{path}: cannot read the id list ({exc.strerror})") from None
    ids = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not ids:
        raise TrainDataError(f"{path}: no record ids in it (expected one id per line)")
    return ids


def examples_fingerprint(examples: Iterable[Example]) -> str:
    """sha256 of the ids, texts and image file names of the examples, in order (what a resumed run must see
    again; the names of a build's images are content hashes, and the folder may have moved)."""
    digest = hashlib.sha256()
    for example in examples:
        parts = [example.id, example.question, example.answer, *(image.name for image in example.images)]
        digest.update(json.dumps(parts, ensure_ascii=False).encode())
    return digest.hexdigest()


def image_sizes(examples: Iterable[Example]) -> dict[Path, tuple[int, int]]:
    """(width, height) of every image of the examples, read from the file headers.

    Raises:
        TrainDataError: an image cannot be read.
    """
    from PIL import Image, UnidentifiedImageError

    sizes: dict[Path, tuple[int, int]] = {}
    for example in examples:
        for path in example.images:
            if path in sizes:
                continue
            try:
                with Image.open(path) as image:
                    sizes[path] = image.size
            except (UnidentifiedImageError, OSError) as exc:
                raise TrainDataError(f"{path}: image of record {example.id!r} cannot be read ({exc})") from None
    return sizes


def image_focal_lengths(examples: Iterable[Example]) -> dict[Path, tuple[float, float]]:
    """(fx, fy) of every image, from its record's camera (a build's images share the unified focal length)."""
    return {path: example.camera[:2] for example in examples for path in example.images}
