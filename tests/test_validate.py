"""Validation (SPEC section 2): every rule, exact ``path: message``, all problems at once."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import router
from router import validate
from router.errors import InputError
from router.instance import Instance, Line
from router.validate import MAX_INT
from tests.conftest import HAND, base_dict
from tests.strategies import instance_dicts

Mut = Callable[[dict[str, Any]], None]


def problems(mut: Mut) -> tuple[tuple[str, str], ...]:
    d = base_dict()
    mut(d)
    with pytest.raises(InputError) as ei:
        Instance.from_dict(d)
    assert ei.value.source == "<dict>"
    return ei.value.problems


def _set(path: str, value: Any) -> Mut:
    """A mutation setting ``value`` at a dotted path with [i] indices."""
    def mut(d: dict[str, Any]) -> None:
        *head, last = _parts(path)
        target: Any = d
        for k in head:
            target = target[k]
        target[last] = value
    return mut


def _del(path: str) -> Mut:
    def mut(d: dict[str, Any]) -> None:
        *head, last = _parts(path)
        target: Any = d
        for k in head:
            target = target[k]
        del target[last]
    return mut


def _parts(path: str) -> list[Any]:
    out: list[Any] = []
    for piece in path.split("."):
        name, *idx = piece.replace("]", "").split("[")
        out.append(name)
        out.extend(int(i) for i in idx)
    return out


CASES: list[tuple[str, Mut, str, str]] = [
    # (case id, mutation, path, message)
    ("format", _set("format", "router/instance-v2"), "format",
     "must be 'router/instance-v1', not 'router/instance-v2'"),
    ("name-missing", _del("name"), "name", "required field is missing"),
    ("name-empty", _set("name", "  "), "name", "must be a non-empty string"),
    ("name-type", _set("name", 5), "name", "must be a non-empty string, not a number"),
    ("unknown-top", _set("colour", 1), "colour", "unknown field"),
    ("shipping-missing", _del("shipping"), "shipping", "required field is missing"),
    ("shipping-type", _set("shipping", [1]), "shipping", "must be a mapping, not a list"),
    ("zones-missing", _del("shipping.zones"), "shipping.zones", "required field is missing"),
    ("zones-empty", _set("shipping.zones", []), "shipping.zones", "must not be empty"),
    ("zones-type", _set("shipping.zones", "x"), "shipping.zones", "must be a list, not a string"),
    ("zone-order", _set("shipping.zones[1].max_km", 50), "shipping.zones[1].max_km",
     "zones must be in strictly ascending max_km (50 follows 50)"),
    ("zone-descending", _set("shipping.zones[1].max_km", 10), "shipping.zones[1].max_km",
     "zones must be in strictly ascending max_km (10 follows 50)"),
    ("zone-key-missing", _del("shipping.zones[0].per_kg"), "shipping.zones[0].per_kg",
     "required field is missing"),
    ("zone-negative", _set("shipping.zones[0].per_package", -1.0),
     "shipping.zones[0].per_package", "must be non-negative"),
    ("zone-unknown", _set("shipping.zones[0].per_m3", 1), "shipping.zones[0].per_m3",
     "unknown field"),
    ("express-negative", _set("shipping.express_max_km", -3), "shipping.express_max_km",
     "must be non-negative"),
    ("penalty-missing", _del("unfilled_penalty"), "unfilled_penalty",
     "required field is missing"),
    ("penalty-string", _set("unfilled_penalty", "200"), "unfilled_penalty",
     "must be a number, not a string"),
    ("penalty-bool", _set("unfilled_penalty", True), "unfilled_penalty",
     "must be a number, not a boolean"),
    ("penalty-nan", _set("unfilled_penalty", float("nan")), "unfilled_penalty",
     "must be a finite number"),
    ("penalty-inf", _set("unfilled_penalty", float("inf")), "unfilled_penalty",
     "must be a finite number"),
    ("penalty-huge-int", _set("unfilled_penalty", 10**400), "unfilled_penalty",
     "must be a finite number (too large)"),
    ("penalty-negative", _set("unfilled_penalty", -1), "unfilled_penalty", "must be non-negative"),
    ("default-max-packages-zero", _set("default_max_packages", 0), "default_max_packages",
     "must be a positive integer"),
    ("skus-missing", _del("skus"), "skus", "required field is missing"),
    ("skus-type", _set("skus", {"A": 1}), "skus", "must be a list, not a mapping"),
    ("sku-not-mapping", _set("skus[0]", "A"), "skus[0]", "must be a mapping, not a string"),
    ("sku-id-missing", _del("skus[0].id"), "skus[0].id", "required field is missing"),
    ("sku-weight-negative", _set("skus[0].weight_kg", -0.5), "skus[0].weight_kg",
     "must be non-negative"),
    ("sku-weight-null", _set("skus[0].weight_kg", None), "skus[0].weight_kg",
     "must be a number, not null"),
    ("sku-eligible-type", _set("skus[0].store_eligible", "no"), "skus[0].store_eligible",
     "must be true or false, not a string"),
    ("sku-duplicate", _set("skus[1].id", "A"), "skus[1].id",
     "duplicate SKU id 'A' (first at skus[0])"),
    ("nodes-missing", _del("nodes"), "nodes", "required field is missing"),
    ("node-id-type", _set("nodes[0].id", 7), "nodes[0].id",
     "must be a non-empty string, not a number"),
    ("node-duplicate", _set("nodes[1].id", "W"), "nodes[1].id",
     "duplicate node id 'W' (first at nodes[0])"),
    ("node-kind", _set("nodes[0].kind", "depot"), "nodes[0].kind",
     "must be 'warehouse' or 'store', not 'depot'"),
    ("node-kind-missing", _del("nodes[0].kind"), "nodes[0].kind", "required field is missing"),
    ("node-lat-high", _set("nodes[0].lat", 90.5), "nodes[0].lat", "must be in [-90, 90]"),
    ("node-lat-low", _set("nodes[0].lat", -91), "nodes[0].lat", "must be in [-90, 90]"),
    ("node-lon", _set("nodes[0].lon", 180.01), "nodes[0].lon", "must be in [-180, 180]"),
    ("node-lon-missing", _del("nodes[0].lon"), "nodes[0].lon", "required field is missing"),
    ("node-handling-negative", _set("nodes[0].handling_per_unit", -0.1),
     "nodes[0].handling_per_unit", "must be non-negative"),
    ("node-handling-package-nan", _set("nodes[0].handling_per_package", float("nan")),
     "nodes[0].handling_per_package", "must be a finite number"),
    ("node-max-packages-negative", _set("nodes[0].max_packages", -1), "nodes[0].max_packages",
     "must be a non-negative integer"),
    ("node-max-units-float", _set("nodes[0].max_units", 2.5), "nodes[0].max_units",
     "must be a non-negative integer"),
    ("node-max-units-string", _set("nodes[0].max_units", "10"), "nodes[0].max_units",
     "must be a non-negative integer, not a string"),
    ("node-safety-negative", _set("nodes[0].safety_stock", -2), "nodes[0].safety_stock",
     "must be a non-negative integer"),
    ("node-radius-negative", _set("nodes[0].service_radius_km", -2),
     "nodes[0].service_radius_km", "must be non-negative"),
    ("node-unknown-field", _set("nodes[0].colour", "red"), "nodes[0].colour", "unknown field"),
    ("inventory-type", _set("nodes[0].inventory", [1]), "nodes[0].inventory",
     "must be a mapping, not a list"),
    ("inventory-unknown-sku", _set("nodes[0].inventory.C", 3), "nodes[0].inventory.C",
     "unknown SKU 'C'"),
    ("inventory-negative", _set("nodes[0].inventory.A", -3), "nodes[0].inventory.A",
     "must be a non-negative integer"),
    ("inventory-float", _set("nodes[0].inventory.A", 1.5), "nodes[0].inventory.A",
     "must be a non-negative integer"),
    ("inventory-inf", _set("nodes[0].inventory.A", float("inf")), "nodes[0].inventory.A",
     "must be a finite number"),
    ("inventory-too-large", _set("nodes[0].inventory.A", 10**20), "nodes[0].inventory.A",
     f"must be at most {MAX_INT}"),
    ("orders-missing", _del("orders"), "orders", "required field is missing"),
    ("orders-type", _set("orders", "O1"), "orders", "must be a list, not a string"),
    ("order-not-mapping", _set("orders[0]", 3), "orders[0]", "must be a mapping, not a number"),
    ("order-id-empty", _set("orders[0].id", ""), "orders[0].id", "must be a non-empty string"),
    ("order-lat-string", _set("orders[0].lat", "30"), "orders[0].lat",
     "must be a number, not a string"),
    ("order-service", _set("orders[0].service", "overnight"), "orders[0].service",
     "must be 'standard' or 'express', not 'overnight'"),
    ("order-max-packages-zero", _set("orders[0].max_packages", 0), "orders[0].max_packages",
     "must be a positive integer"),
    ("order-penalty-negative", _set("orders[0].unfilled_penalty", -5),
     "orders[0].unfilled_penalty", "must be non-negative"),
    ("order-no-lines", _set("orders[0].lines", []), "orders[0].lines",
     "an order must have at least one line"),
    ("order-lines-missing", _del("orders[0].lines"), "orders[0].lines",
     "required field is missing"),
    ("order-lines-type", _set("orders[0].lines", {"sku": "A"}), "orders[0].lines",
     "must be a list, not a mapping"),
    ("line-unknown-sku", _set("orders[0].lines[0].sku", "Z"), "orders[0].lines[0].sku",
     "unknown SKU 'Z'"),
    ("line-qty-zero", _set("orders[0].lines[0].qty", 0), "orders[0].lines[0].qty",
     "must be a positive integer"),
    ("line-qty-negative", _set("orders[0].lines[0].qty", -1), "orders[0].lines[0].qty",
     "must be a positive integer"),
    ("line-qty-float", _set("orders[0].lines[0].qty", 1.5), "orders[0].lines[0].qty",
     "must be a positive integer"),
    ("line-qty-bool", _set("orders[0].lines[0].qty", True), "orders[0].lines[0].qty",
     "must be a positive integer, not a boolean"),
    ("line-qty-missing", _del("orders[0].lines[0].qty"), "orders[0].lines[0].qty",
     "required field is missing"),
    ("line-unknown-field", _set("orders[0].lines[0].price", 3), "orders[0].lines[0].price",
     "unknown field"),
]


@pytest.mark.parametrize(("mut", "path", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_each_rule(mut: Mut, path: str, message: str) -> None:
    got = problems(mut)
    assert got[0] == (path, message)
    if path in ("skus", "skus[0]", "skus[0].id", "skus[1].id"):
        # a SKU entry that is not valid does not exist: every reference to it is reported too
        assert got[1:] and all(m.startswith("unknown SKU") for _, m in got[1:])
    else:
        assert len(got) == 1, got


def test_duplicate_order_id() -> None:
    def mut(d: dict[str, Any]) -> None:
        d["orders"].append(dict(d["orders"][0]))
    assert problems(mut) == (("orders[1].id", "duplicate order id 'O1' (first at orders[0])"),)


def test_top_level_not_a_mapping() -> None:
    for value, kind in (([1, 2], "a list"), ("text", "a string"), (3, "a number"), (None, "null")):
        with pytest.raises(InputError) as ei:
            Instance.from_dict(value)
        assert ei.value.problems == (
            ("", f"an instance must be a mapping at the top level, not {kind}"),)


def test_every_problem_is_reported_at_once() -> None:
    def mut(d: dict[str, Any]) -> None:
        d["format"] = "v9"
        del d["name"]
        d["nodes"][1]["lat"] = 100
        d["nodes"][0]["inventory"]["Q"] = 1
        d["orders"][0]["lines"][0]["qty"] = 0
        d["orders"].append({"id": "O2", "lat": 0, "lon": 0, "lines": [{"sku": "B", "qty": "2"}]})
    got = problems(mut)
    assert got == (
        ("format", "must be 'router/instance-v1', not 'v9'"),
        ("name", "required field is missing"),
        ("nodes[0].inventory.Q", "unknown SKU 'Q'"),
        ("nodes[1].lat", "must be in [-90, 90]"),
        ("orders[0].lines[0].qty", "must be a positive integer"),
        ("orders[1].lines[0].qty", "must be a positive integer, not a string"),
    )


def test_error_text_is_path_colon_message() -> None:
    d = base_dict()
    d["orders"][0]["lines"][0]["qty"] = 0
    with pytest.raises(InputError) as ei:
        Instance.from_dict(d, source="batch.yaml")
    assert str(ei.value) == "batch.yaml: orders[0].lines[0].qty: must be a positive integer"
    assert ei.value.format() == str(ei.value)


def test_many_problems_in_a_long_batch_keep_their_index() -> None:
    d = base_dict()
    d["orders"] = [{"id": f"O{i}", "lat": 30.0, "lon": 120.0,
                    "lines": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 1},
                              {"sku": "A", "qty": 0 if i % 9 == 8 else 1}]} for i in range(30)]
    with pytest.raises(InputError) as ei:
        Instance.from_dict(d)
    assert ei.value.problems == tuple((f"orders[{i}].lines[2].qty", "must be a positive integer")
                                      for i in (8, 17, 26))


def test_duplicate_skus_in_an_order_are_merged() -> None:
    d = base_dict()
    d["orders"][0]["lines"] = [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1},
                               {"sku": "A", "qty": 3}]
    inst = Instance.from_dict(d)
    assert inst.orders[0].lines == (Line("A", 5), Line("B", 1))


def test_defaults() -> None:
    d = base_dict()
    del d["format"]
    inst = Instance.from_dict(d)
    n, o = inst.nodes[0], inst.orders[0]
    assert (n.handling_per_unit, n.handling_per_package, n.max_packages, n.max_units,
            n.safety_stock, n.service_radius_km) == (0.0, 0.0, None, None, 0, None)
    assert (o.service, o.max_packages, o.unfilled_penalty) == ("standard", None, None)
    assert inst.skus[0].store_eligible is True and inst.skus[1].store_eligible is False
    assert inst.default_max_packages is None
    assert inst.order_penalty(o) == 200.0 and inst.order_max_packages(o) is None
    d["default_max_packages"] = 2
    d["orders"][0]["unfilled_penalty"] = 7
    inst = Instance.from_dict(d)
    assert inst.order_max_packages(inst.orders[0]) == 2
    assert inst.order_penalty(inst.orders[0]) == 7.0
    assert isinstance(inst.orders[0].lat, float)


def test_boundaries_are_valid() -> None:
    d = base_dict()
    d["nodes"][0].update(lat=90, lon=-180, max_packages=0, max_units=0, safety_stock=0)
    d["nodes"][1].update(lat=-90, lon=180)
    d["orders"][0]["lines"][0]["qty"] = MAX_INT
    d["skus"][0]["weight_kg"] = 0
    d["unfilled_penalty"] = 0
    d["orders"].append({"id": "O2", "lat": 0, "lon": 0, "service": "express", "max_packages": 1,
                        "lines": [{"sku": "B", "qty": 1}]})
    d["nodes"][0]["inventory"]["A"] = 0
    inst = Instance.from_dict(d)
    assert inst.nodes[0].lat == 90.0 and inst.orders[1].service == "express"


def test_instance_is_immutable() -> None:
    inst = Instance.from_dict(base_dict())
    with pytest.raises(AttributeError):
        inst.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        inst.nodes[0].inventory["A"] = 0  # type: ignore[index]


def test_from_dict_does_not_keep_the_callers_mapping() -> None:
    d = base_dict()
    inst = Instance.from_dict(d)
    d["nodes"][0]["inventory"]["A"] = 999
    d["orders"][0]["lines"][0]["qty"] = 999
    assert inst.nodes[0].inventory["A"] == 5 and inst.orders[0].lines[0].qty == 1


def test_available_stock_is_inventory_less_safety_stock() -> None:
    d = base_dict()
    d["nodes"][0]["safety_stock"] = 2
    d["nodes"][1]["safety_stock"] = 9
    inst = Instance.from_dict(d)
    assert inst.nodes[0].available("A") == 3
    assert inst.nodes[1].available("A") == 0
    assert inst.nodes[0].available("nothing") == 0


@pytest.mark.parametrize("path", sorted(HAND.glob("*.yaml")), ids=lambda p: p.stem)
def test_to_dict_round_trip(path) -> None:
    inst = router.load(path)
    assert isinstance(inst, Instance)
    d = inst.to_dict()
    assert d["format"] == "router/instance-v1"
    again = Instance.from_dict(d)
    assert again == inst
    assert again.to_dict() == d


def test_to_dict_round_trip_with_every_optional_field() -> None:
    d = base_dict()
    d["default_max_packages"] = 2
    d["nodes"][0].update(handling_per_unit=0.3, handling_per_package=1.5, max_packages=4,
                         max_units=9, safety_stock=1, service_radius_km=80.0)
    d["orders"][0].update(service="express", max_packages=1, unfilled_penalty=50.0)
    inst = Instance.from_dict(d)
    assert Instance.from_dict(inst.to_dict()) == inst
    assert inst.to_dict()["nodes"][0]["service_radius_km"] == 80.0


# ------------------------------------------- the fast path for well-formed orders

_ODD_VALUES: list[Any] = [None, -1, 0, 1, 2, 1.5, -0.0, 95.0, -181, "x", "", " ", "express", "standard",
               True, False, float("nan"), float("inf"), 10**400, 2**60, [], {}, [1], "S0"]
_ORDER_FIELDS = ["id", "lat", "lon", "service", "max_packages", "unfilled_penalty", "lines",
                 "colour"]


def _outcome(d: dict[str, Any]) -> Any:
    try:
        return Instance.from_dict(d)
    except InputError as e:
        return e.problems


@settings(max_examples=150, deadline=None)
@given(instance_dicts(), st.lists(st.tuples(st.integers(0, 5), st.sampled_from(_ORDER_FIELDS),
                                            st.sampled_from(_ODD_VALUES), st.integers(0, 3)),
                                  max_size=4))
def test_fast_path_matches_the_checked_path(d: dict[str, Any], corruptions: list[Any]) -> None:
    """Well-formed orders skip the per-field checker; the result (instance or problems) must be
    exactly what the checker gives."""
    for k, field, value, line in corruptions:
        order = d["orders"][k % len(d["orders"])]
        lines = order.get("lines")
        if field == "lines" and line < 3 and isinstance(lines, list) and lines:
            target = lines[line % len(lines)]
            if isinstance(target, dict):
                target[["sku", "qty", "price"][line]] = value
        elif value is None and field in order and line == 0:
            del order[field]
        elif field == "id" and line == 1:
            order["id"] = d["orders"][0]["id"]  # a duplicate id
        else:
            order[field] = value
    fast = _outcome(copy.deepcopy(d))
    try:
        validate._FAST = False
        slow = _outcome(d)
    finally:
        validate._FAST = True
    assert fast == slow
    if isinstance(fast, Instance):
        assert all(type(o.lat) is float and type(o.lon) is float for o in fast.orders)
