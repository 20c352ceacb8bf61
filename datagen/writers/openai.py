"""OpenAI chat fine-tuning JSONL with images inlined as base64 data URLs.

One line per record::

    {"messages": [{"role": "user", "content": [
                      {"type": "text", "text": "How far ...?"},
                      {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,..."}}]},
                  {"role": "assistant", "content": "7.23"}]}

The format has no field for our record id, so ``<split>.ids.txt`` lists the id of each
line, in the same order.

Limits of OpenAI's vision fine-tuning (developers.openai.com, "Vision fine-tuning",
"Image data requirements"), checked here; a record over a limit is skipped and reported:

* at most 10 images per example (``too_many_images``);
* each image at most 10 MB (``image_too_large``; the size of the image file);
* JPEG, PNG or WEBP, RGB or RGBA (``unsupported_image_format``; builds write RGB JPEG or PNG);
* at most 50,000 examples with images per training file (``file_limit``: records past
  the 50,000th of a split are left out).

Images may only appear in user messages, which is where they are. Images showing people,
faces, children or CAPTCHAs are dropped by OpenAI's moderation at upload; nothing here
can check that.
"""

from __future__ import annotations

import base64
import os
from collections import Counter
from pathlib import Path

from datagen.writers import register
from datagen.writers.base import JsonlSink, Writer

MAX_IMAGES_PER_EXAMPLE = 10
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_EXAMPLES_PER_FILE = 50_000
MIME_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


class IdsJsonlSink(JsonlSink):
    """JSONL without an ``id`` field, plus ``<split>.ids.txt`` holding the id of each line."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.ids = JsonlSink(path.with_suffix(".ids.txt"))

    def write(self, row: dict) -> None:
        self.ids.handle.write(row.pop("id") + "\n")
        super().write(row)

    def close(self) -> None:
        super().close()
        self.ids.close()

    def abort(self) -> None:
        super().abort()
        self.ids.abort()


@register("openai")
class OpenAIWriter(Writer):
    """OpenAI chat fine-tuning rows: user text + base64 images, assistant answer."""

    name = "openai"
    sink_class = IdsJsonlSink
    max_images = MAX_IMAGES_PER_EXAMPLE
    max_image_bytes = MAX_IMAGE_BYTES
    max_examples = MAX_EXAMPLES_PER_FILE

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.accepted: Counter = Counter()

    def skip_reason(self, record: dict) -> tuple[str, str] | None:
        """A missing image, or one of OpenAI's documented limits."""
        missing = super().skip_reason(record)
        if missing is not None:
            return missing
        images = record["images"]
        if len(images) > self.max_images:
            return "too_many_images", f"{len(images)} images, OpenAI takes at most {self.max_images} per example"
        for image in images:
            reason = self._image_problem(image)
            if reason is not None:
                return reason
        if self.accepted[record["split"]] >= self.max_examples:
            return "file_limit", f"split {record['split']} already has {self.max_examples} examples, OpenAI's limit"
        self.accepted[record["split"]] += 1
        return None

    def _image_problem(self, image: str) -> tuple[str, str] | None:
        if Path(image).suffix.lower() not in MIME_TYPES:
            return "unsupported_image_format", f"{image}: OpenAI takes JPEG, PNG or WEBP"
        size = os.path.getsize(self.image_file(image))
        if size > self.max_image_bytes:
            return "image_too_large", f"{image} is {size} bytes, OpenAI takes at most {self.max_image_bytes}"
        return None

    def to_row(self, record: dict) -> dict:
        parts = [{"type": "text", "text": record["question"]}]
        parts += [{"type": "image_url", "image_url": {"url": self.data_url(image)}} for image in record["images"]]
        return {"id": record["id"],
                "messages": [{"role": "user", "content": parts},
                             {"role": "assistant", "content": record["answer"]}]}

    def finish(self, files: dict[str, Path]) -> list[Path]:
        """The ``<split>.ids.txt`` files written beside the data files."""
        return [path.with_suffix(".ids.txt") for path in files.values()]

    def data_url(self, image: str) -> str:
        """``data:<mime>;base64,<bytes>`` of an image of the build."""
        with open(self.image_file(image), "rb") as handle:
            data = handle.read()
        return f"data:{MIME_TYPES[Path(image).suffix.lower()]};base64,{base64.b64encode(data).decode('ascii')}"
