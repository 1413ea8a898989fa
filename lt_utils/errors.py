"""Errors that name the bad value and the valid choices."""


class ConfigError(ValueError):
    """An invalid configuration value, with the field, the value and what is allowed."""


class DataUnavailableError(FileNotFoundError):
    """A data set is missing and could not be downloaded; the message says what to put where."""


class DamagedFileError(ValueError):
    """A stored or downloaded file that is truncated, altered or unreadable; the message names it."""


class DamagedResultWarning(UserWarning):
    """A stored round failed verification and is recomputed; the message names the file."""


class FolderBusyError(RuntimeError):
    """Another process holds the results folder's lock; the message names its PID."""
