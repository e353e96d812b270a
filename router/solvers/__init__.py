"""Solvers. Importing this package imports every module in it, which registers each solver
(``@register`` in :mod:`router.solvers.base`)."""

import importlib
import pkgutil

from router.solvers.base import SolveOptions, SolverResult, Status, get, registry

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if not _mod.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod}")

__all__ = ["SolveOptions", "SolverResult", "Status", "get", "registry"]
