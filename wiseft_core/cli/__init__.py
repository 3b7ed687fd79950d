"""The `wiseft` command: one subcommand per library verb; usage and file errors end in one line and status 2."""

from wiseft_core.cli.dispatch import main

__all__ = ["main"]
