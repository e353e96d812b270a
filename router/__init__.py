"""router: route e-commerce order batches to warehouses and stores at sale-day peaks.

    import router
    instance = router.load("instances/hand/split.yaml")
    plan = router.solve(instance, solver="auto", time_limit=1.0)
    router.verify(instance, plan)
"""

import logging

from router.compile import Problem, compile_problem
from router.contract import Budget, Limit, Reason, Status, Termination
from router.errors import (
    InputError,
    Interrupted,
    OptionError,
    RouterError,
    SolverUnavailable,
    VerificationError,
)
from router.explain import explain
from router.generate import generate as generate
from router.instance import GapInstance, Instance
from router.io.read import load, loads, parse_gap, parse_json, parse_yaml
from router.network import Network
from router.plan import Plan
from router.solve import solve
from router.verify import VerifyReport, verify

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"


def available_solvers() -> dict[str, str]:
    """Solvers usable on this machine, name -> description."""
    from router.solvers.registry import registry

    return {n: i.description for n, i in sorted(registry().items()) if i.available() is None}


__all__ = [
    "Budget", "GapInstance", "InputError", "Instance", "Interrupted", "Limit", "Network",
    "OptionError", "Plan", "Problem", "Reason", "RouterError", "SolverUnavailable", "Status",
    "Termination", "VerificationError", "VerifyReport", "compile_problem", "load", "loads",
    "parse_gap", "parse_json", "parse_yaml", "solve", "available_solvers", "verify", "explain",
]
