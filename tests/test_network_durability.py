"""A process killed (SIGKILL) while it commits batch after batch to a ledger file restarts
consistent: every commit it reported is there, no commit is there in part, and routing goes
on from where it stopped."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import router
from router.io.write import write
from router.network import Network

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys
import router
from router.network import Network

path, source, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
orders = router.load(source).orders
net = Network.open(path)
i = start
while True:
    batch = [o.__class__(f"K{i}-{k}", o.lat, o.lon, o.lines, o.service, o.max_packages,
                         o.unfilled_penalty) for k, o in enumerate(orders[(i * 50) % 1500:][:50])]
    net.advance(net.clock + 120.0)
    if i % 3 == 0:
        s = net.ledger.s
        p = (i * 7919) % s.n_pools
        net.adjust(s.node_ids[s.pool_node[p]], s.sku_ids[s.pool_sku[p]], 5, kind="replenish")
    res = net.commit(net.route(batch, solver="greedy"))
    print(res.plan_id, flush=True)
    i += 1
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_process_restarts_consistent(tmp_path: Path) -> None:
    inst = router.generate("m", seed=3)
    source = tmp_path / "m.json"
    write(inst, source)
    db = tmp_path / "m.db"
    Network.create(inst, db).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(7)
    reported: list[str] = []
    start = 0
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(source), str(start)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env)
        assert child.stdout is not None
        target = rng.randint(2, 6)
        got = 0
        while got < target:
            line = child.stdout.readline()
            assert line, child.stderr.read() if child.stderr else "child ended"
            reported.append(line.strip())
            got += 1
        time.sleep(rng.uniform(0.0, 0.05))  # most often in the middle of the next commit
        child.send_signal(signal.SIGKILL)
        child.wait()
        reported += [ln.strip() for ln in child.stdout.read().splitlines() if ln.strip()]
        child.stdout.close()
        if child.stderr:
            child.stderr.close()
        with Network.open(db) as net:
            assert net.audit() == []
            assert net.accounting().balanced
            assert set(reported) <= set(net.ledger.plan_ids)  # every reported commit is there
            n_plans = len(net.ledger.plans)
            assert n_plans in (len(reported), len(reported) + 1)  # and at most the one killed
            # each committed plan has all of its new orders and packages
            orders = {oid.split("-")[0] for oid in net.ledger.order_ids}
            assert len(orders) == n_plans
            assert len(net.ledger.order_ids) == 50 * n_plans
            start = n_plans
        if n_plans > len(reported):
            reported.append(list(net.ledger.plan_ids)[-1])
    with Network.open(db) as net:  # and it routes on
        before = len(net.ledger.plans)
        batch = [router.instance.Order("after", 30.0, 120.0, inst.orders[0].lines)]
        net.commit(net.route(batch, solver="greedy"))
        assert len(net.ledger.plans) == before + 1 and net.audit() == []
