"""Errors the core raises for operators: each carries a message a person can act on."""


class LogiqError(Exception):
    """Base of every error Logiq reports to an operator as one clear line (no traceback)."""


class ConfigurationError(LogiqError):
    """A setting, plugins.toml entry or CLI argument is invalid."""


class StorageError(LogiqError):
    """The database cannot be reached or the data directory cannot be used."""
