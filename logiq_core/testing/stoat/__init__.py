"""A faithful local Stoat for tests, benchmarks and the sandbox (REST + events socket)."""

from logiq_core.testing.stoat.demo import Demo, build_demo
from logiq_core.testing.stoat.server import StoatDouble
from logiq_core.testing.stoat.ulid import new_ulid

__all__ = ["Demo", "StoatDouble", "build_demo", "new_ulid"]
