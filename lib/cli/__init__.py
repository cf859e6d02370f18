"""The command line: `python -m lib.cli COMMAND ...` (see lib/cli/main.py)."""
