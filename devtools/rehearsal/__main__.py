"""``python -m devtools.rehearsal`` (``make rehearse``): the command line in cli.py."""
import sys

from devtools.rehearsal.cli import main

sys.exit(main())
