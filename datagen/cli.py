"""The ``datagen`` command line. Subcommands live in ``datagen/commands/``, one module each."""

from __future__ import annotations

import errno
import importlib
import logging
import pkgutil
import sys
import traceback

import click

import datagen
from datagen import commands as _commands
from datagen.errors import DatagenError

log = logging.getLogger("datagen")

#: What to add to the message of a fault of the machine, by errno.
_MACHINE_HINTS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
                  errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
                  errno.EPERM: "permission denied", errno.EFBIG: "the file size limit is reached"}
EXPECTED_ERRORS = (DatagenError, OSError, MemoryError)


def error_line(exc: BaseException) -> str:
    """The one line ``error: <file>[:line]: <what is wrong>`` for an expected error."""
    if isinstance(exc, OSError) and not isinstance(exc, DatagenError):
        where = exc.filename if exc.filename is not None else None
        what = exc.strerror or str(exc)
        hint = _MACHINE_HINTS.get(exc.errno or 0)
        text = f"{where}: {what}" if where is not None else what
        text += f" ({hint}; fix it and run the same command again: a build resumes where it stopped)" if hint else ""
    elif isinstance(exc, MemoryError):
        text = f"out of memory{f' ({exc})' if str(exc) else ''}; free memory or use fewer --workers, " \
               "then run the same command again: a build resumes where it stopped"
    else:
        text = str(exc)
    return "error: " + "; ".join(line.strip() for line in text.splitlines() if line.strip())


class _Group(click.Group):
    """Turns expected errors (DatagenError, faults of the machine) into one line and exit code 2.

    ``-v`` adds the traceback above that line; any other exception is a bug and keeps its traceback.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as exc:
            if (ctx.obj or {}).get("verbose", 0):
                click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)
            click.echo(error_line(exc), err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(datagen.__version__, "--version", prog_name="datagen")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no progress bars.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Turn 3D ground truth into metric-depth question/answer data for VLMs."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet
    ctx.obj["verbose"] = verbose


def _add_subcommands(group: click.Group) -> None:
    for module in pkgutil.iter_modules(_commands.__path__):
        if not module.name.startswith("_"):
            command = getattr(importlib.import_module(f"{_commands.__name__}.{module.name}"), "command", None)
            if isinstance(command, click.Command):
                group.add_command(command)


_add_subcommands(main)

if __name__ == "__main__":
    main()
