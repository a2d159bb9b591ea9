"""Logiq's minimal core: the Stoat gateway, commands, permissions, storage and the rollout gate.

Features live in plugins (distributions registering in the ``logiq.plugins`` entry-point group);
the core knows none of them by name.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    __version__: str

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed distribution on first use: every process that
    imports a part of Logiq (the embedded database's among them) would otherwise pay for
    reading the installed packages' metadata."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("logiq")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0.0.0+local"
    globals()["__version__"] = found
    return found
