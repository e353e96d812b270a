"""A network through a sale day: a ledger of rolling batches (``Network``), its SQLite file,
the day's event stream, and the replay that tells whether a day can be routed in time."""

from router.network.ledger import Accounting, LedgerError
from router.network.network import CommitResult, Network, plan_digest

__all__ = ["Accounting", "CommitResult", "LedgerError", "Network", "plan_digest"]
