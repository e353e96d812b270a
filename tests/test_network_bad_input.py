"""Every bad event stream under tests/data/day/ makes `router replay` exit 2 with a message
naming the file, the line and the problem; no traceback, no report written, and the ledger
file the replay was pointed at is unchanged (byte for byte)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from router.cli import main
from router.network import Network
from tests.conftest import DATA

DAY = DATA / "day"
NETWORK = DAY / "network.json"

# file -> every (place, message fragment) the message must give
EXPECTED: dict[str, list[tuple[str, str]]] = {
    "bad_out_of_order.jsonl": [("line 3: t", "out of order: 5 s comes after 10 s")],
    "bad_missing_t.jsonl": [("line 2: t", "required: a number of seconds >= 0")],
    "bad_nan.jsonl": [("line 2", "not valid JSON: NaN is not a finite number")],
    "bad_unknown_sku.jsonl": [("line 2: lines[0].sku", "unknown SKU 'Q'")],
    "bad_unknown_node.jsonl": [("line 3: node", "unknown node 'X'")],
    "bad_unknown_order.jsonl": [("line 3: order", "unknown order 'O-9' (no earlier arrival)")],
    "bad_unknown_type.jsonl": [("line 2: type", "must be one of order, sale, replenish")],
    "bad_unknown_field.jsonl": [("line 2: colour", "unknown field")],
    "bad_unstocked.jsonl": [("line 2: items.B", "node 'S' does not stock SKU 'B'")],
    "bad_duplicate_order.jsonl": [("line 3: id", "duplicate order id 'O-1' (first on line 2)")],
    "bad_negative_qty.jsonl": [("line 2: lines[0].qty", "must be a positive integer")],
    "bad_negative_sale.jsonl": [("line 3: qty", "must be a positive integer")],
    "bad_negative_replenish.jsonl": [("line 2: items.A", "must be a positive integer")],
    "bad_no_lines.jsonl": [("line 2: lines", "an order must have a non-empty list of lines")],
    "bad_lat.jsonl": [("line 2: lat", "must be a number in [-90, 90]")],
    "bad_probability.jsonl": [("line 2: p", "must be a probability in [0, 1]")],
    "bad_truncated.jsonl": [("line 3", "not valid JSON: Expecting ',' delimiter at column 56 (the line "
                                       "is cut short: truncated file?)")],
    "bad_not_json.jsonl": [("line 3", "not valid JSON: Expecting value at column 1")],
    "bad_not_utf8.jsonl": [("line 1", "not UTF-8 text (byte 1)")],
    "bad_no_header.jsonl": [("line 1: format", "the first line must be the header")],
    "bad_empty.jsonl": [("line 1", "file is empty")],
}


def test_every_bad_day_has_an_expectation() -> None:
    assert {p.name for p in DAY.glob("bad_*")} == set(EXPECTED)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    db = tmp_path / "net.db"
    assert main(["network", "init", str(db), "--from", str(NETWORK)]) == 0
    return db


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_day(name: str, ledger: Path, tmp_path: Path,
                 capsys: pytest.CaptureFixture[str]) -> None:
    path = str(DAY / name)
    report = tmp_path / "out" / "report.md"
    before = _digest(ledger)
    capsys.readouterr()
    assert main(["replay", path, "--network", str(ledger), "--window", "1",
                 "--report", str(report)]) == 2
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    lines = cap.err.splitlines()
    assert lines and all(line.startswith(f"{path}: ") for line in lines), cap.err
    for where, fragment in EXPECTED[name]:
        prefix = f"{path}: {where}: "
        assert any(line.startswith(prefix) and fragment in line for line in lines), cap.err
    assert cap.out == ""
    assert not report.exists()
    assert _digest(ledger) == before
    with Network.open(ledger) as net:
        assert net.ledger.n_orders == 0 and net.clock == 0.0 and not net.ledger.plans


def test_a_day_whose_orders_are_in_the_ledger_is_refused(ledger: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    good = str(DAY / "good.jsonl")
    assert main(["replay", good, "--network", str(ledger), "--window", "1"]) == 0
    with Network.open(ledger) as net:
        state = net.summary()
    before = _digest(ledger)
    capsys.readouterr()
    assert main(["replay", str(DAY / "known_order.jsonl"), "--network", str(ledger)]) == 2
    err = capsys.readouterr().err
    assert "replay: line 2: id: order 'O-1' is already in the ledger" in err
    assert "Traceback" not in err
    assert _digest(ledger) == before
    with Network.open(ledger) as net:
        assert net.summary() == state
