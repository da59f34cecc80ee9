"""format=govuk-pay: a replay of GOV.UK Pay webhook deliveries — a JSON array (or JSON Lines) of
webhook bodies exactly as GOV.UK Pay sends them. Each body is a `card_event`, handled exactly like
a delivery to POST /v1/webhooks/govuk-pay (service_layer/card_payments.py). Items belong to the
provider `govuk-pay` unless the import names another."""
from __future__ import annotations

from typing import BinaryIO, Iterator

from rentflow_payments.domain.formats import Options, Parsed, register
from rentflow_payments.domain.formats import json_format

PROVIDER = "govuk-pay"


def sniff(head: bytes) -> bool:
    return json_format.sniff(head) and b'"webhook_message_id"' in head and b'"resource_id"' in head


def parse(fp: BinaryIO, options: Options | None = None) -> Iterator[Parsed]:
    for p in json_format.parse(fp):
        yield p if p.error is not None else Parsed(p.kind, p.position, value=p.value, type="card_event")


register("govuk-pay", parse, sniff=sniff, default_provider=PROVIDER,
         description="GOV.UK Pay webhook bodies (JSON array or JSON Lines), replayed")
