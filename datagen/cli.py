"""The ``datagen`` command line. Subcommands live in ``datagen/commands/``, one module each."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys

import click

import datagen
from datagen import commands as _commands
from datagen.errors import DatagenError

log = logging.getLogger("datagen")


class _Group(click.Group):
    """Turns DatagenError into a one-line message and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DatagenError as exc:
            click.echo(f"error: {exc}", err=True)
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
