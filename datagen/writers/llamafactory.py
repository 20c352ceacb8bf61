"""LLaMA-Factory: ShareGPT-style multimodal JSONL plus the dataset_info.json that registers it.

One line per record::

    {"id": "...", "messages": [{"role": "user", "content": "<image>How far ...?"},
                               {"role": "assistant", "content": "7.23"}],
     "images": ["/abs/build/images/3f/3f9a0c1e2b7d.jpg"]}

The user turn starts with one ``<image>`` token per image, as LLaMA-Factory's
``mllm_demo`` does; it checks that the count of tokens matches ``images``.
``dataset_info.json`` (in the same folder) names one dataset per split, ``datagen_<split>``,
with ``formatting: sharegpt``, columns messages/images and tags role/content/user/assistant.
Train with ``dataset_dir: <this folder>`` and ``dataset: datagen_train``.

Image paths: LLaMA-Factory joins each path to ``media_dir`` (default: ``dataset_dir``) and
keeps the path as it is when that file does not exist. Absolute paths (the default) need no
setting; with ``paths="relative"`` set ``media_dir`` to the build folder. The ``id`` column
is dropped by LLaMA-Factory's converter.
"""

from __future__ import annotations

from pathlib import Path

from datagen.writers import register
from datagen.writers.base import IMAGE_TOKEN, Writer, write_json

DATASET_INFO = "dataset_info.json"


def messages_row(record: dict, images: list[str]) -> dict:
    """A ShareGPT-style row: user turn with one ``<image>`` per image, assistant answer, image list."""
    return {
        "id": record["id"],
        "messages": [
            {"role": "user", "content": IMAGE_TOKEN * len(images) + record["question"]},
            {"role": "assistant", "content": record["answer"]},
        ],
        "images": images,
    }


def dataset_name(split: str) -> str:
    """The key of a split's dataset in dataset_info.json."""
    return f"datagen_{split}"


@register("llamafactory")
class LlamaFactoryWriter(Writer):
    """ShareGPT multimodal rows (messages + images) and their dataset_info.json entries."""

    name = "llamafactory"
    relative_paths_hint = "set media_dir: {build_dir}"

    def to_row(self, record: dict) -> dict:
        return messages_row(record, [self.image_path(image) for image in record["images"]])

    def finish(self, files: dict[str, Path]) -> list[Path]:
        """Write dataset_info.json with one sharegpt entry per split file."""
        super().finish(files)
        info = {dataset_name(split): dataset_entry(path.name) for split, path in files.items()}
        return [write_json(self.out_dir / DATASET_INFO, info)] if info else []


def dataset_entry(file_name: str) -> dict:
    """The dataset_info.json entry that points LLaMA-Factory at one of our files."""
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"},
    }
