"""Solvers, by kind: ``heuristics`` (greedy, regret, the industry rules, local search),
``bounds`` (Lagrangian relaxation, LP bound), ``exact`` (the MIP model and its engines) and
``portfolio`` (``auto``). Importing this package imports every module in it, which registers
each solver (``@register`` in :mod:`router.solvers.registry`)."""

import importlib
import pkgutil

for _mod in sorted(m.name for m in pkgutil.walk_packages(__path__, prefix=f"{__name__}.")):
    if not _mod.rsplit(".", 1)[-1].startswith("_"):
        importlib.import_module(_mod)
