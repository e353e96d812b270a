"""Compiled numeric loops: numba's ``njit`` with its on-disk cache.

Some hot paths are loops that numpy can only vectorise with many passes and temporaries over
the candidate arcs (a bidding round order by order, the unique nodes of each order's
line-arcs); there numpy's per-call overhead and memory traffic are the limit. Those loops are
written as plain Python over arrays and compiled by numba (``cache=True``: compiled once per
install, into ``__pycache__`` or numba's user cache, then loaded). Every compiled loop has a
vectorised numpy twin that stays reachable (``ENABLED`` false, or ``ROUTER_JIT=0`` in the
environment, selects it), so that tests can compare the two and the project still runs where
numba is not installed.

Costs, measured by ``python -m benchmarks.floor_speed jit --update-results`` (benchmarks/results/jit_cost.json):
importing numba and loading the cached loops, once per process when :mod:`router` is imported
(:func:`router.solvers.heuristics.core.warm_up`; about 0.6 s of CPU beyond an import without
them, on the machine of that file), and compiling them once after an install or with an empty
cache (about 21 s of CPU there).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

numba: Any = None
if os.environ.get("ROUTER_JIT", "1") not in ("0", "false", "no"):
    try:  # pragma: no cover  (depends on the installation)
        import numba
    except ImportError:  # pragma: no cover
        numba = None

ENABLED = numba is not None
"""Whether the compiled loops are used (else their numpy twins): numba is installed and
``ROUTER_JIT`` is not ``0``."""


def njit(func: F) -> F:
    """``numba.njit(cache=True)`` where numba is installed; the plain function otherwise
    (callers then take their numpy path, never the slow pure-Python loop)."""
    if numba is None:  # pragma: no cover
        return func
    compiled: F = numba.njit(cache=True, nogil=True, error_model="numpy")(func)
    return compiled
