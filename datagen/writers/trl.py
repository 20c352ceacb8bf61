"""TRL: conversational vision-language rows for ``SFTTrainer``, prompt/completion by default.

Variant ``prompt-completion`` (default), so that only the answer is trained::

    {"id": "...", "images": ["/abs/build/images/3f/3f9a0c1e2b7d.jpg"],
     "prompt": [{"role": "user", "content": [{"type": "image", "text": null},
                                             {"type": "text", "text": "How far ...?"}]}],
     "completion": [{"role": "assistant", "content": [{"type": "text", "text": "7.23"}]}]}

Variant ``messages``: the same two turns in one ``messages`` column (TRL then trains on
the whole conversation unless told to mask the prompt).

Every content part has both keys ``type`` and ``text`` (``text`` is null on image parts):
Arrow infers one struct type per column and fails on parts of mixed shapes. The image
parts come first, one per entry of ``images``, as TRL's vision examples have them.

Load and decode with the datasets library::

    ds = load_dataset("json", data_files={"train": "train.jsonl"})["train"]
    ds = ds.cast_column("images", Sequence(Image()))

Image paths are absolute by default; relative ones (``paths="relative"``) resolve against
the working directory when the images are decoded.
"""

from __future__ import annotations


from datagen.writers import register
from datagen.writers.base import Writer

PROMPT_COMPLETION = "prompt-completion"
MESSAGES = "messages"


def text_part(text: str) -> dict:
    return {"type": "text", "text": text}


def image_part() -> dict:
    return {"type": "image", "text": None}


@register("trl")
class TrlWriter(Writer):
    """TRL conversational rows with an ``images`` column: prompt/completion, or messages."""

    name = "trl"
    relative_paths_hint = "decode images from {build_dir}"
    variants = (PROMPT_COMPLETION, MESSAGES)

    def to_row(self, record: dict) -> dict:
        images = [self.image_path(image) for image in record["images"]]
        user = {"role": "user", "content": [image_part() for _ in images] + [text_part(record["question"])]}
        assistant = {"role": "assistant", "content": [text_part(record["answer"])]}
        if self.variant == MESSAGES:
            return {"id": record["id"], "images": images, "messages": [user, assistant]}
        return {"id": record["id"], "images": images, "prompt": [user], "completion": [assistant]}


