"""InternVL (``internvl_chat`` fine-tuning): JSONL annotations plus the meta file that lists them.

One line per record, image paths relative to the build folder::

    {"id": "...", "image": "images/3f/3f9a0c1e2b7d.jpg",
     "conversations": [{"from": "human", "value": "<image>\\nHow far ...?"},
                       {"from": "gpt", "value": "7.23"}]}

Several images (the pose task) give a list in ``image`` and the question starts with
``Image-1: <image>\\nImage-2: <image>\\n``, InternVL's multi-image convention.

``meta_<split>.json`` names the dataset for ``--meta_path``::

    {"datagen_train": {"root": "/abs/build", "annotation": "/abs/out/train.jsonl",
                       "data_augment": false, "repeat_time": 1, "length": 84}}

InternVL opens ``os.path.join(root, image)``, so ``root`` is the build folder; move the
build and edit ``root`` only. The ``paths`` option does not apply to this format.
"""

from __future__ import annotations

from pathlib import Path

from datagen.writers import register
from datagen.writers.base import IMAGE_TOKEN, Writer, write_json
from datagen.writers.llava import image_field



def human_value(question: str, n_images: int) -> str:
    """The question with InternVL's image placeholders in front."""
    if n_images == 1:
        return f"{IMAGE_TOKEN}\n{question}"
    tags = "".join(f"Image-{i}: {IMAGE_TOKEN}\n" for i in range(1, n_images + 1))
    return tags + question


@register("internvl")
class InternVLWriter(Writer):
    """InternVL chat fine-tuning annotations (id, image, conversations) and meta files."""

    name = "internvl"

    def to_row(self, record: dict) -> dict:
        images = list(record["images"])
        return {
            "id": record["id"],
            "image": image_field(images),
            "conversations": [{"from": "human", "value": human_value(record["question"], len(images))},
                              {"from": "gpt", "value": record["answer"]}],
        }

    def finish(self, files: dict[str, Path]) -> list[Path]:
        """Write ``meta_<split>.json`` for each annotation file."""
        return [write_json(self.out_dir / f"meta_{split}.json", {f"datagen_{split}": self.meta_entry(split, path)})
                for split, path in files.items()]

    def meta_entry(self, split: str, path: Path) -> dict:
        return {"root": str(self.build_dir), "annotation": str(path), "data_augment": False,
                "repeat_time": 1, "length": self.report.rows[split]}
