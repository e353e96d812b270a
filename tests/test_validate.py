"""Validation (SPEC section 2): every rule, exact ``path: message``, all problems at once."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import router
from router import validate
from router.errors import InputError
from router.instance import Instance, Line
from router.validate import MAX_COST, MAX_INT, checked_fields
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
    d["orders"][0]["lines"][0]["qty"] = MAX_INT - 1  # with O2's unit: the batch's limit
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
               True, False, float("nan"), float("inf"), 10**400, 2**60, [], {}, [1], "S0",
               MAX_INT, MAX_COST, 1e13, 1e308, np.int64(2), np.float32(1.5), np.bool_(True)]
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


def _entries(v: Any) -> int:
    if isinstance(v, dict):
        return len(v) + sum(_entries(x) for x in v.values())
    if isinstance(v, list):
        return sum(_entries(x) for x in v)
    return 0


@settings(max_examples=60, deadline=None)
@given(instance_dicts())
def test_entry_count_of_a_valid_instance_is_every_entry(d: dict[str, Any]) -> None:
    """The JSON reader rules out duplicate keys by this count: it must be every entry of every
    mapping, on the fast path and the checked one alike."""
    want = _entries(d)
    assert checked_fields(d)[1] == want
    try:
        validate._FAST = False
        assert checked_fields(d)[1] == want
    finally:
        validate._FAST = True


# ------------------------------------------- numpy scalars, magnitudes, short messages

def test_numpy_scalars_are_numbers() -> None:
    """A service holding the batch in numpy arrays passes their scalars as they are; the
    instance holds plain Python numbers, equal to the instance of the plain mapping."""
    plain = base_dict()
    plain["default_max_packages"] = 2
    plain["nodes"][0].update(max_packages=7, max_units=9, safety_stock=1, handling_per_unit=0.5)
    d = copy.deepcopy(plain)
    d["default_max_packages"] = np.int32(2)
    d["unfilled_penalty"] = np.float32(200.0)
    d["shipping"]["zones"][0]["per_kg"] = np.float64(0.5)
    d["shipping"]["zones"][1]["max_km"] = np.int16(500)
    d["shipping"]["express_max_km"] = np.uint8(100)
    d["skus"][0]["weight_kg"] = np.float16(1.0)
    d["skus"][1]["store_eligible"] = np.bool_(False)
    d["nodes"][0].update(lat=np.float64(30.2), lon=np.float32(120.0), max_packages=np.int64(7),
                         max_units=np.uint64(9), safety_stock=np.int8(1),
                         handling_per_unit=np.float32(0.5))
    d["nodes"][0]["inventory"] = {"A": np.int64(5), "B": np.int32(5)}
    d["orders"][0].update(lat=np.float32(30.0), lon=np.int64(120), max_packages=np.int64(1),
                          unfilled_penalty=np.float64(7.5))
    plain["orders"][0].update(max_packages=1, unfilled_penalty=7.5)
    d["orders"][0]["lines"] = [{"sku": "A", "qty": np.int64(1)}]
    inst = Instance.from_dict(d)
    assert inst == Instance.from_dict(plain)
    n, o = inst.nodes[0], inst.orders[0]
    assert type(n.max_packages) is int and type(n.inventory["A"]) is int
    assert type(o.lines[0].qty) is int and type(o.lat) is float and type(n.lon) is float
    assert type(inst.skus[1].store_eligible) is bool and type(inst.unfilled_penalty) is float


@pytest.mark.parametrize(("path", "value", "message"), [
    ("orders[0].lines[0].qty", np.bool_(True), "must be a positive integer, not a boolean"),
    ("orders[0].lat", np.bool_(False), "must be a number, not a boolean"),
    ("unfilled_penalty", np.bool_(True), "must be a number, not a boolean"),
    ("orders[0].lines[0].qty", np.float64(2.0), "must be a positive integer"),
    ("nodes[0].inventory.A", np.int64(-1), "must be a non-negative integer"),
    ("nodes[0].inventory.A", np.uint64(2**64 - 1), f"must be at most {MAX_INT}"),
    ("skus[0].weight_kg", np.float64("nan"), "must be a finite number"),
    ("skus[0].store_eligible", np.int64(1), "must be true or false, not a number"),
])
def test_numpy_scalars_keep_the_rules(path: str, value: Any, message: str) -> None:
    assert problems(_set(path, value)) == ((path, message),)


@pytest.mark.parametrize("path", ["unfilled_penalty", "orders[0].unfilled_penalty",
                                  "shipping.zones[0].per_package", "shipping.zones[1].per_kg",
                                  "skus[0].weight_kg", "nodes[0].handling_per_unit",
                                  "nodes[1].handling_per_package"])
def test_costs_weights_and_penalties_have_a_maximum(path: str) -> None:
    d = base_dict()
    _set(path, MAX_COST)(d)
    Instance.from_dict(d)  # the maximum itself is valid
    for too_big in (MAX_COST * (1 + 1e-9), 1e308, 10**300):
        assert problems(_set(path, too_big)) == ((path, "must be at most 1e+12"),)


def test_distances_have_no_maximum() -> None:
    d = base_dict()
    d["shipping"]["zones"][1]["max_km"] = 1e300
    d["shipping"]["express_max_km"] = 1e300
    d["nodes"][0]["service_radius_km"] = 1e300
    assert Instance.from_dict(d).shipping.zones[1].max_km == 1e300


@pytest.mark.parametrize("fast", [True, False])
def test_merged_lines_keep_to_the_integer_limit(fast: bool, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    monkeypatch.setattr(validate, "_FAST", fast)
    d = base_dict()
    d["orders"][0]["lines"] = [{"sku": "A", "qty": MAX_INT - 5}, {"sku": "A", "qty": 5}]
    assert Instance.from_dict(d).orders[0].lines == (Line("A", MAX_INT),)
    d["orders"][0]["lines"].append({"sku": "A", "qty": 1})
    with pytest.raises(InputError) as ei:
        Instance.from_dict(d)
    assert ei.value.problems == (
        ("orders[0].lines[2].qty", f"the lines of SKU 'A' add up to more than {MAX_INT} units "
                                   "(lines of one SKU are merged)"),)
    d["orders"][0]["lines"] = [{"sku": "A", "qty": MAX_INT}] * 3  # beyond int64 too
    with pytest.raises(InputError) as ei:
        Instance.from_dict(d)
    assert [p for p, _ in ei.value.problems] == ["orders[0].lines[1].qty"]


@pytest.mark.parametrize("fast", [True, False])
def test_the_units_of_a_batch_keep_to_the_integer_limit(fast: bool,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "_FAST", fast)
    d = base_dict()
    d["orders"] = [{"id": f"O{i}", "lat": 30.0, "lon": 120.0,
                    "lines": [{"sku": "A", "qty": MAX_INT // 4}]} for i in range(4)]
    Instance.from_dict(d)
    d["orders"][0]["lines"].append({"sku": "B", "qty": 4})
    with pytest.raises(InputError) as ei:
        Instance.from_dict(d)
    assert ei.value.problems == (
        ("orders", f"the orders add up to {MAX_INT + 1} units, more than the {MAX_INT} a batch "
                   "may hold"),)


def _bomb(levels: int = 9) -> Any:
    v: Any = "lol"
    for _ in range(levels):
        v = [v] * 9  # shared references: tiny in memory, 9**levels strings if walked
    return v


@pytest.mark.parametrize(("path", "value", "message"), [
    ("format", _bomb(), "must be 'router/instance-v1', not a list"),
    ("nodes[0].kind", _bomb(), "must be 'warehouse' or 'store', not a list"),
    ("orders[0].service", {"a": _bomb()}, "must be 'standard' or 'express', not a mapping"),
    ("nodes[0].kind", "depot" * 100_000, "must be 'warehouse' or 'store', not 'depotdepotdepot"
                                         "depotdepotdepotdepotdepot...'"),
    ("nodes[0].kind", 10**5000, "must be 'warehouse' or 'store', not an integer of about 5001 "
                                "digits"),
    ("orders[0].lines[0].sku", "Z" * 10**6, "unknown SKU '" + "Z" * 40 + "...'"),
    ("name", _bomb(), "must be a non-empty string, not a list"),
    ("orders", _bomb(3), "must be a mapping, not a list"),
], ids=["format-bomb", "kind-bomb", "service-bomb", "kind-long", "kind-5000-digits", "sku-long",
        "name-bomb", "orders-bomb"])
def test_messages_stay_short_whatever_the_value(path: str, value: Any, message: str) -> None:
    got = problems(_set(path, value))
    assert (got[0][0].startswith(path), got[0][1]) == (True, message)
    assert all(len(p) + len(m) < 200 for p, m in got)


def test_unknown_keys_are_cut_in_the_path() -> None:
    got = problems(_set("nodes[0]." + "k" * 10_000, 1))
    assert got == ((f"nodes[0].{'k' * 60}...", "unknown field"),)
