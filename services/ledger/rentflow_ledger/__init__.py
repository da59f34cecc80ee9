"""rentflow ledger service."""
