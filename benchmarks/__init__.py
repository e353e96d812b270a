"""Benchmarks of the router solvers: ``python -m benchmarks`` (also ``router bench``).

See benchmarks/README.md for the suites, the profiles and the committed results.
"""

from benchmarks.cli import main

__all__ = ["main"]
