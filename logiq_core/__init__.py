"""Logiq's minimal core: the Stoat gateway, commands, permissions, storage and the rollout gate.

Features live in plugins (distributions registering in the ``logiq.plugins`` entry-point group);
the core knows none of them by name.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("logiq")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
