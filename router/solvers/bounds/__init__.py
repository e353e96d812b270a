"""Lower bounds: the Lagrangian relaxation (prices on stock and capacity) and the LP bound."""
