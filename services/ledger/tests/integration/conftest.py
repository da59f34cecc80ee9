"""Lets the ledger's integration tests import their helpers (ledger_support.py) under
pytest's importlib import mode."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
