"""Errors that name the bad value and the valid choices."""


class ConfigError(ValueError):
    """An invalid configuration value, with the field, the value and what is allowed."""


class DataUnavailableError(FileNotFoundError):
    """A data set is missing and could not be downloaded; the message says what to put where."""
