"""Errors shared by every command."""


class UsageError(Exception):
    """Bad input from the user (arguments, files, config). The CLI prints it on one line and exits 2."""
