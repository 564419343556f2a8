"""Errors the CLI turns into one clear message and a non-zero exit."""


class HarnessError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it."""


class SpecError(HarnessError):
    """A spec file or override is invalid. Raised before any work starts."""


class RegistryError(HarnessError):
    """An unknown or broken plugin name."""


class RunStoreError(HarnessError):
    """A run directory cannot be used (changed spec on resume, locked, corrupt)."""


class Interrupted(HarnessError):
    """Ctrl-C: what is stored stays, and the message says how to finish (exit code 130, as a shell's)."""
    exit_code = 130
