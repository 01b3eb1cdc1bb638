"""The command line: ``headlines`` (commands.py) and its ``pipeline`` subcommands (pipeline.py)."""
from headlines.cli.commands import main

__all__ = ["main"]
