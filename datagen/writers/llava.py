"""LLaVA: one JSON array per split, the format of LLaVA's ``llava_v1_5_mix665k.json``.

::

    [{"id": "...", "image": "/abs/build/images/3f/3f9a0c1e2b7d.jpg",
      "conversations": [{"from": "human", "value": "<image>\\nHow far ...?"},
                        {"from": "gpt", "value": "7.23"}]},
     ...]

A record with several images (the pose task) gets a list in ``image`` and one ``<image>``
line per image, the multi-image convention of LLaVA-NeXT / LLaVA-OneVision; the original
LLaVA 1.5 trainer takes one image per example.

LLaVA opens ``os.path.join(image_folder, image)``: absolute paths (the default) work with
any ``--image_folder``; with ``paths="relative"`` pass ``--image_folder <build folder>``.
The array is written element by element, so the file never sits in memory.
"""

from __future__ import annotations

from datagen.writers import register
from datagen.writers.base import IMAGE_TOKEN, JsonArraySink, Writer


def image_field(images: list[str]) -> str | list[str]:
    """One image as a string, several as a list."""
    return images[0] if len(images) == 1 else images


def conversations(question: str, answer: str, n_images: int) -> list[dict]:
    """The human/gpt turns, with one ``<image>`` line per image before the question."""
    prefix = f"{IMAGE_TOKEN}\n" * n_images
    return [{"from": "human", "value": prefix + question}, {"from": "gpt", "value": answer}]


@register("llava")
class LlavaWriter(Writer):
    """LLaVA instruction-tuning JSON: id, image, conversations (human/gpt)."""

    name = "llava"
    suffix = ".json"
    sink_class = JsonArraySink
    relative_paths_hint = "pass --image_folder {build_dir}"

    def to_row(self, record: dict) -> dict:
        images = [self.image_path(image) for image in record["images"]]
        return {"id": record["id"], "image": image_field(images),
                "conversations": conversations(record["question"], record["answer"], len(images))}
