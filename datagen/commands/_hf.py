"""What the Hugging Face commands (train, predict, check-focal) share on the command line."""

from __future__ import annotations

import click


def quiet_hugging_face(ctx: click.Context) -> None:
    """Silence transformers' and peft's own progress bars, advice and deprecation notes (shown with -vv):
    the CLI owns the terminal, and datagen's log says what matters."""
    if (ctx.obj or {}).get("verbose", 0) >= 2:
        return
    import warnings

    from datagen._optional import require

    hf_logging = require("transformers", "train").utils.logging
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    for category in (FutureWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(transformers|peft)(\.|$)")
