"""``python -m headlines.cli``: the same as the ``headlines`` command."""
import sys

from headlines.cli.commands import main

sys.exit(main())
