"""What the ledger consumes: group "ledger", topic → batch handler."""
from __future__ import annotations

from rentflow_ledger.service_layer.receipts import handle_payments_received

GROUP_ID = "ledger"
HANDLERS = {"payments.received.v1": handle_payments_received}
