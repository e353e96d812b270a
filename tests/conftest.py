"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.suites import GAP_DIR
from router.compile import Problem

ROOT = Path(__file__).resolve().parent.parent
HAND = ROOT / "instances" / "hand"
DATA = Path(__file__).resolve().parent / "data"
GAP_INSTANCES = GAP_DIR / "instances"

HAND_OPTIMA = {"split": 11.0, "store": 30.5, "express": 23.0, "safety": 15.0,
               "unfillable": 105.5, "capacity": 22.5}

_BASE: dict[str, Any] = {
    "format": "router/instance-v1",
    "name": "t",
    "shipping": {"zones": [{"max_km": 50, "per_package": 5.0, "per_kg": 0.5},
                           {"max_km": 500, "per_package": 8.0, "per_kg": 1.5}],
                 "express_max_km": 100},
    "unfilled_penalty": 200.0,
    "skus": [{"id": "A", "weight_kg": 1.0}, {"id": "B", "weight_kg": 2.0,
                                             "store_eligible": False}],
    "nodes": [{"id": "W", "kind": "warehouse", "lat": 30.2, "lon": 120.0,
               "inventory": {"A": 5, "B": 5}},
              {"id": "S", "kind": "store", "lat": 29.8, "lon": 120.0,
               "inventory": {"A": 5, "B": 5}}],
    "orders": [{"id": "O1", "lat": 30.0, "lon": 120.0, "lines": [{"sku": "A", "qty": 1}]}],
}


@pytest.fixture(scope="module")
def ray_instance() -> Any:
    """A local Ray instance with 2 CPUs for a test module (started and stopped here); the
    tests that use it are marked ``xdist_group("ray")`` so that one worker runs them all."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'router[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def base_dict() -> dict[str, Any]:
    """A small valid instance mapping (a fresh deep copy each call)."""
    return copy.deepcopy(_BASE)


def gap_path(name: str) -> Path:
    path = GAP_INSTANCES / name
    assert path.is_file(), f"GAP instance {name} is missing from {GAP_INSTANCES}"
    return path


@pytest.fixture
def base() -> dict[str, Any]:
    return base_dict()


def assert_same_problem(p: Problem, q: Problem) -> None:
    """Every field of two Problems equal (arrays: same dtype, shape and values)."""
    for f in dataclasses.fields(Problem):
        if f.name == "compile_seconds":
            continue
        a, b = getattr(p, f.name), getattr(q, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, f.name
            np.testing.assert_array_equal(a, b, err_msg=f.name)
        else:
            assert a == b, f.name
