"""ms-swift: its standard ``messages`` + ``images`` JSONL.

One line per record::

    {"id": "...", "messages": [{"role": "user", "content": "<image>How far ...?"},
                               {"role": "assistant", "content": "7.23"}],
     "images": ["/abs/build/images/3f/3f9a0c1e2b7d.jpg"]}

ms-swift replaces each ``<image>`` tag of the user turn with the next entry of ``images``
(one tag per image). Its documentation asks for URLs or paths, preferably absolute, so
absolute paths are the default; relative ones (``paths="relative"``) resolve against the
working directory of ``swift sft``, so run it from the build folder. Train with
``swift sft --dataset <this folder>/train.jsonl --val_dataset <this folder>/val.jsonl``.
"""

from __future__ import annotations

from datagen.writers import register
from datagen.writers.base import Writer
from datagen.writers.llamafactory import messages_row


@register("swift")
class SwiftWriter(Writer):
    """ms-swift standard rows: messages (user/assistant) with <image> tags, and images."""

    name = "swift"
    relative_paths_hint = "run swift from {build_dir}"

    def to_row(self, record: dict) -> dict:
        return messages_row(record, [self.image_path(image) for image in record["images"]])
