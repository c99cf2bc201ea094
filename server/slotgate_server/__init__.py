"""The Slotgate server: global concurrency limits and rate limits over HTTP."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("slotgate")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
