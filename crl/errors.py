"""Errors a user can fix: the message names what is wrong and how to fix it (the CLI prints it, no traceback)."""


class CrlError(Exception):
    """Base class for problems caused by input or configuration rather than by a bug."""


class CohortError(CrlError):
    """A cohort folder cannot be used; `report` holds every problem found."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class ConfigError(CrlError):
    """A configuration value is missing, unknown or out of range."""


class TrainingError(CrlError):
    """Training stopped for a reason the user can act on (NaN loss, out of memory, …)."""


class RunError(CrlError):
    """A run folder is missing, incomplete or from an incompatible version."""
