"""The portfolio: ``auto``, the best plan the project can find within the budget."""
