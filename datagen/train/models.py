"""Loading a local image-text-to-text model and its processor; LoRA; device and precision.

Everything loads from local folders (``local_files_only``): nothing is downloaded. A
processor loads through ``AutoProcessor``; where that fails because a video processor
cannot be built (transformers 5 builds Qwen2-VL video processors with torchvision), the
processor class named by the folder loads as an image-only subclass that passes
``video_processor=None``. Training data has no videos, so nothing is lost.
"""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path
from typing import Any

from datagen._optional import require
from datagen.errors import DatagenError
from datagen.hf_processing import set_pixel_limits

torch = require("torch", "train")
transformers = require("transformers", "train")

log = logging.getLogger(__name__)

#: Name parts of the modules that make up a vision tower or its projector (no LoRA there by default).
VISION_MODULE_PARTS = ("visual", "vision", "multi_modal_projector", "mm_projector", "image_newline")
#: The processor files a local folder may hold, in the order their processor_class is read.
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json")


class ModelError(DatagenError):
    """A model folder is missing, is not an image-text model, or cannot run as asked."""


def pick_device(name: str = "auto"):
    """``auto``: the first CUDA device if there is one, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ModelError(f"unknown device {name!r} ({exc})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {name!r} asked for, but torch sees no CUDA device")
    return device


def pick_dtype(precision: str, device):
    """bf16 or fp32 compute; ``auto`` takes bf16 on a CUDA device that supports it."""
    if precision == "auto":
        bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16 else torch.float32
    return torch.bfloat16 if precision == "bf16" else torch.float32


def check_model_dir(path: str | Path) -> Path:
    """``path`` as a Path if it holds an image-text-to-text model's config, else ModelError."""
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"{path}: model folder not found (expected a local Hugging Face model folder; "
                         f"nothing is downloaded)")
    if not (path / "config.json").is_file():
        raise ModelError(f"{path}: no config.json (expected a local Hugging Face model folder)")
    try:
        config = transformers.AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{path}/config.json: not a model configuration transformers can read ({exc})") from None
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    if config.model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        raise ModelError(f"{path}: a {config.model_type!r} model is not an image-text-to-text model "
                         f"(transformers' AutoModelForImageTextToText does not take it)")
    return path


def image_only_processor_class(processor_class: type) -> type:
    """A subclass of a processor class that is built without a video processor.

    It keeps the class name, so that a processor saved from it names the real class.
    """
    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        processor_class.__init__(self, image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                                 chat_template=chat_template, **kwargs)

    return type(processor_class.__name__, (processor_class,), {"__init__": __init__,
                                                               "__module__": processor_class.__module__})


def load_processor(path: str | Path, *, min_pixels: int | None = None, max_pixels: int | None = None) -> Any:
    """The processor of a local model folder, with an optional pixel budget (Qwen2-VL family).

    Raises:
        ModelError: no processor with an image processor, tokenizer and chat template loads from it.
    """
    path = Path(path)
    processor_class = _processor_class(path)
    processor = None
    if processor_class is None or not _needs_missing_video_processor(processor_class):
        try:
            processor = transformers.AutoProcessor.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError, ImportError, TypeError) as exc:
            log.debug("AutoProcessor failed on %s (%s); trying an image-only processor", path, exc)
    if getattr(processor, "image_processor", None) is None:
        processor = _image_only_processor(path, processor_class)
    if getattr(processor, "tokenizer", None) is None or not getattr(processor, "chat_template", None):
        raise ModelError(f"{path}: its processor has no tokenizer or no chat template (an image-text model "
                         f"needs both to turn a question into a prompt)")
    set_pixel_limits(processor.image_processor, min_pixels=min_pixels, max_pixels=max_pixels)
    return processor


def _needs_missing_video_processor(processor_class: type) -> bool:
    """True if the class takes a video processor, which transformers builds with torchvision, and it is missing."""
    from transformers.utils import is_torchvision_available

    takes_video = "video_processor" in inspect.signature(processor_class.__init__).parameters
    return takes_video and not is_torchvision_available()


def _processor_class_name(path: Path) -> str | None:
    for name in PROCESSOR_FILES:
        file = path / name
        if file.is_file():
            value = (_read_json(file) or {}).get("processor_class")
            if value:
                return value
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    config = _read_json(path / "config.json") or {}
    return PROCESSOR_MAPPING_NAMES.get(config.get("model_type"))


def _processor_class(path: Path) -> type | None:
    name = _processor_class_name(path)
    return getattr(transformers, name, None) if name else None


def _image_only_processor(path: Path, processor_class: type | None) -> Any:
    if processor_class is None:
        raise ModelError(f"{path}: no image processor loads from it (processor class "
                         f"{_processor_class_name(path)!r}); it does not look like an image-text model's folder")
    try:
        return image_only_processor_class(processor_class).from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        raise ModelError(f"{path}: the {processor_class.__name__} processor cannot be loaded ({exc})") from None


def load_model(path: str | Path, *, dtype, device) -> Any:
    """The model of a local folder, its weights in ``dtype``, on ``device``, in training mode off."""
    try:
        model = transformers.AutoModelForImageTextToText.from_pretrained(str(path), dtype=dtype,
                                                                        local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: the model cannot be loaded ({exc})") from None
    return model.to(device).eval()


def lora_target_names(model: Any, targets: str = "language") -> list[str]:
    """Names of the linear layers that get LoRA adapters.

    Args:
        targets: "language" (every linear layer but the vision tower, its projector and the
            output head) or "all" (the vision tower's too; never the output head).
    """
    names = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or name.endswith("lm_head"):
            continue
        if targets == "language" and any(part in name for part in VISION_MODULE_PARTS):
            continue
        names.append(name)
    if not names:
        raise ModelError(f"{type(model).__name__}: no linear layers for LoRA adapters ({targets!r})")
    return names


def add_lora(model: Any, *, rank: int, alpha: float, dropout: float, targets: str) -> Any:
    """Wrap the model with fresh LoRA adapters (peft); only the adapters train."""
    peft = require("peft", "train")
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout,
                             target_modules=lora_target_names(model, targets), task_type="CAUSAL_LM")
    return peft.get_peft_model(model, config)


def enable_gradient_checkpointing(model: Any, lora: bool) -> bool:
    """Turn on gradient checkpointing if the model supports it; True if it did."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not getattr(base, "supports_gradient_checkpointing", False):
        log.warning("%s does not support gradient checkpointing; training without it", type(base).__name__)
        return False
    base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if lora:
        base.enable_input_require_grads()  # the frozen embeddings' output must carry gradients to the adapters
    base.config.use_cache = False
    return True


#: The run folder of ``datagen train``: what each name holds.
RUN_FILE = "run.json"        # options, base model, state, steps, last loss
FINAL_DIR = "model"          # the trained LoRA adapters or full model, with the processor
BASE_DIR = "base-model"      # the base model a ``tiny-random`` run built and trained from


def trained_model_dirs(path: str | Path, base: str | Path | None = None) -> tuple[Path, Path | None]:
    """(weights folder, base model folder or None) of a trained model.

    Args:
        path: a run folder of ``datagen train``, its ``model/`` folder, a LoRA adapter
            folder, or a plain model folder.
        base: the base model of LoRA adapters, instead of the one recorded with them.
    """
    path = Path(path)
    if (path / RUN_FILE).is_file():  # a run folder
        run_dir, weights = path, path / FINAL_DIR
        if not weights.is_dir():
            raise ModelError(f"{path}: the run has no final model yet ({FINAL_DIR}/ is missing): continue it "
                             f"with `datagen train ... --resume`")
    elif path.name == FINAL_DIR and (path.parent / RUN_FILE).is_file():  # a run folder's model/
        run_dir, weights = path.parent, path
    else:  # adapters or a model of any origin
        run_dir, weights = None, path
    if not (weights / "adapter_config.json").is_file():
        return weights, None
    return weights, Path(base) if base is not None else _recorded_base(run_dir, weights)


def _recorded_base(run_dir: Path | None, weights: Path) -> Path:
    """The base model of LoRA adapters: as the run recorded it (relative to the run folder), else as peft did."""
    recorded = (_read_json(run_dir / RUN_FILE) or {}).get("base_model") if run_dir is not None else None
    if recorded:
        return run_dir / recorded  # an absolute recorded path stays as it is
    recorded = (_read_json(weights / "adapter_config.json") or {}).get("base_model_name_or_path")
    if not recorded:
        raise ModelError(f"{weights}: LoRA adapters without a recorded base model; name it with --base")
    return Path(recorded)


def _read_json(path: Path) -> dict | None:
    """A JSON object from a file, None if there is no file; ModelError if it is not a JSON object."""
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, too deep, too many digits
        raise ModelError(f"{path}: not valid JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(value, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return value


def load_trained(path: str | Path, *, base: str | Path | None = None, dtype, device,
                 min_pixels: int | None = None, max_pixels: int | None = None) -> tuple[Any, Any]:
    """(model, processor) of a trained model for inference; LoRA adapters are merged into their base."""
    weights, base_dir = trained_model_dirs(path, base)
    check_model_dir(base_dir or weights)
    has_processor = any((weights / name).is_file() for name in PROCESSOR_FILES)
    processor = load_processor(weights if has_processor else base_dir or weights, min_pixels=min_pixels,
                               max_pixels=max_pixels)
    model = load_model(base_dir or weights, dtype=dtype, device=device)
    if base_dir is not None:
        peft = require("peft", "train")
        try:
            model = peft.PeftModel.from_pretrained(model, str(weights), is_trainable=False).merge_and_unload()
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"{weights}: the LoRA adapters do not load on {base_dir} ({exc})") from None
    return model.eval(), processor
