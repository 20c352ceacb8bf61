"""CLI subcommands: each public module here defines one click command named ``command``."""
