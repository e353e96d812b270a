"""Solvers. Importing this package registers every solver in :mod:`router.solvers.base`."""

from router.solvers import auto, greedy  # noqa: F401
from router.solvers.base import SolveOptions, SolverResult, Status, get, registry

__all__ = ["SolveOptions", "SolverResult", "Status", "get", "registry"]
