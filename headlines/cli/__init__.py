"""The command line: ``headlines`` (commands.py), its ``pipeline`` subcommands (pipeline.py) and ``preflight`` (preflight.py)."""
from headlines.cli.commands import main

__all__ = ["main"]
