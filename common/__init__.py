"""The shared kernel: settings, errors, logging, HTTP, time ranges, auth and serving."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sre-federation")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
