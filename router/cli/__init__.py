"""The command line (SPEC section 5): a thin layer over the library."""

from router.cli.main import main

__all__ = ["main"]
