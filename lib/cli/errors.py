"""What every command raises to refuse: one line for the user, never a traceback."""

from __future__ import annotations

import argparse


class CliError(Exception):
    """A refusal the user can fix; printed as one `error:` line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise CliError(message)
