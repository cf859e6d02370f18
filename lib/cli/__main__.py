"""`python -m lib.cli ...`: the command line's entry point."""

import sys

from lib.cli.main import main

sys.exit(main())
