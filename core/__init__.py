"""The kpi core: models, hook specs, plugin manager, store and run pipeline."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kpi")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

from .hookspecs import hookimpl  # noqa: E402  the marker plugins decorate their hooks with

__all__ = ["hookimpl", "__version__"]
