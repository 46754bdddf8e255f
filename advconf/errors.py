"""The one exception type the CLI turns into a one-line message (no traceback)."""


class AdvconfError(ValueError):
    """Bad user input: config values, paths, checkpoints or data. The message says what to fix."""
