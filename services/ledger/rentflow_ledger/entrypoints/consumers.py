"""What the ledger consumes: group "ledger", topic → batch handler."""
from __future__ import annotations

from rentflow_ledger.service_layer.directdebit import handle_dd_returned, handle_mandate_instructions
from rentflow_ledger.service_layer.receipts import handle_payments_received

GROUP_ID = "ledger"
HANDLERS = {"payments.received.v1": handle_payments_received,
            "directdebit.returned.v1": handle_dd_returned,
            "directdebit.mandates.v1": handle_mandate_instructions}
