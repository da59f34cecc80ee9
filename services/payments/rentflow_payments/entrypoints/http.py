"""HTTP surface of intake: providers, the push API, file uploads, payment look-up.

The push path is kept lean (it carries ~10,000 payments/s): the raw body is read once, the
signature checked over those bytes before anything is parsed, msgspec reads it (`fast_push`; orjson
and one pydantic TypeAdapter whatever that does not take, so every refusal is pydantic's), and one
transaction of two or three statements stores it. Answers are orjson bytes.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Awaitable, BinaryIO, Callable

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rentflow_common.auth import Caller, require, signed
from rentflow_common.inputs import Text
from rentflow_common.logging import get_logger
from rentflow_common.service import ServiceRuntime, correlation_id

from rentflow_payments.adapters import repository as repo
from rentflow_payments.adapters.secret_box import SecretBox
from rentflow_payments.domain import formats, signature
from rentflow_payments.domain.model import MANY, ONE, Payment, PaymentIn, fast_push, field_errors
from rentflow_payments.domain.card_events import CARD_EVENT
from rentflow_payments.domain.patterns import PatternError, compile_pattern
from rentflow_payments.service_layer import card_payments, handlers, imports, providers

log = get_logger(__name__)

JSON = "application/json"
MAX_PUSH_BYTES = 16 << 20
MAX_BATCH_ITEMS = 10_000
MAX_WEBHOOK_BYTES = 1 << 20
GOVUK_PAY = "govuk-pay"
IMPORT_PARAMS = ("format", "provider")  # every other query parameter is an option of the format
SPOOL_IN_MEMORY_BYTES = 8 << 20
DEFAULT_IMPORT_PROVIDER = "file-import"
REPLAY_409 = ("the same signed request (provider, t and body) again within its window: a replay, refused; "
              "or an Idempotency-Key used with another request")
SIGNATURE_401 = (f"one body for every refusal after the header's form and time: {signature.BAD!r} (never says "
                 f"whether the provider exists); {signature.MISSING!r}; {signature.MALFORMED!r}; {signature.STALE!r}")
_OPTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
PROVIDER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_PROVIDER_NAME = re.compile(PROVIDER_NAME)
MAX_OPTIONS = 20
MAX_OPTION_CHARS = 200
# checked when the provider is unknown or revoked, so that a refusal takes the same work and reads the same
_STAND_IN = providers.Credentials(providers.new_secret(), None, None, legacy_signature=False)

ProviderName = Annotated[str, Path(pattern=PROVIDER_NAME, description="the provider_id")]
SecretText = Annotated[Text, Field(min_length=16, max_length=512, pattern=r"^[\x21-\x7e]+$")]


class ProviderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=PROVIDER_NAME, description="becomes the provider_id (X-Provider-Id)")
    secret: SecretText | None = Field(default=None, description="HMAC signing key (16 to 512 printable ASCII "
                                                                "characters); generated (64 hex chars) when omitted")
    legacy_signature: bool = Field(False, description="also accept the old `X-Signature: sha256=<hex>` form "
                                                      "(no time, so no replay protection)")


class ProviderOut(BaseModel):
    provider_id: str
    name: str
    secret: str
    legacy_signature: bool = False


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret: SecretText | None = Field(default=None, description="the new secret; generated when omitted")


class RotateOut(BaseModel):
    provider_id: str
    secret: str
    previous_secret_valid_until: datetime | None = Field(
        description="until when the previous secret is still accepted (null: it no longer is)")


def _detail(status: int, detail: Any, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=detail, headers=headers)


def _invalid(errors: list[dict[str, Any]]) -> HTTPException:
    return _detail(422, errors)


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise _detail(413, f"body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _detail(413, f"body larger than {limit} bytes")
    return bytes(body)


def _inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its local $defs inlined (OpenAPI would not resolve #/$defs/...)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)  # type: ignore[no-any-return]


def _push_schema(many: bool) -> dict[str, Any]:
    one = _inline_defs(PaymentIn.model_json_schema())
    schema = {"type": "array", "items": one, "maxItems": MAX_BATCH_ITEMS} if many else one
    return {
        "requestBody": {"required": True, "content": {JSON: {"schema": schema}}},
        "parameters": [
            {"name": "X-Provider-Id", "in": "header", "required": True, "schema": {"type": "string"}},
            {"name": "X-Signature", "in": "header", "required": True, "schema": {"type": "string"},
             "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" keyed with the provider's "
                            "secret>; t within 5 minutes of now. `sha256=<hex HMAC-SHA256 of the raw body>` only "
                            "for providers registered with legacy_signature"},
            {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
             "description": "same key and body again: the first answer is replayed"},
        ],
    }


def _file_schema(signed: bool) -> dict[str, Any]:
    extra: dict[str, Any] = {"requestBody": {"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
    if signed:
        extra["parameters"] = _push_schema(False)["parameters"][:2]
    return extra


def make_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(prefix="/v1")
    engine = runtime.engine
    settings: Any = runtime.settings
    box = SecretBox(settings.secrets_key.get_secret_value())
    provider_keys = providers.ProviderKeys(engine, box, settings.provider_cache_seconds)
    rollover = timedelta(hours=settings.secret_rollover_hours)
    max_file_bytes = settings.max_file_mb << 20

    async def check_key() -> None:
        await providers.check_key(runtime.uow, box)
    runtime.on_start.append(check_key)

    async def signatures_table() -> None:
        async with runtime.uow() as uow:
            for ddl in repo.SIGNATURES_DDL:
                await uow.raw.execute(ddl)
            await uow.commit()
    runtime.on_start.append(signatures_table)
    # a signed request is remembered until its t is out of the window (and a minute's grace)
    keep_seconds = signature.MAX_SKEW_SECONDS + 60
    purged = [0.0]

    async def stored(what: str, text: str, read: Callable[[Any, uuid.UUID], Awaitable[Any]]) -> Response:
        """GET of one stored row by its id; 404 naming `what` for a text that is no id, or no row's."""
        try:
            key = uuid.UUID(text)
        except ValueError:
            raise _detail(404, f"unknown {what} {text}") from None
        async with engine.connect() as conn:
            row = await read((await conn.get_raw_connection()).driver_connection, key)
        if row is None:
            raise _detail(404, f"unknown {what} {text}")
        return Response(orjson.dumps(row, default=str), media_type=JSON)

    def replayed(seen_at: datetime | None) -> HTTPException:
        at = f" at {seen_at.isoformat(timespec='seconds')}" if seen_at else ""
        return _detail(409, signature.REPLAYED.format(at=at))

    async def refuse_seen(provider_id: str, header: signature.Header, body_sha256: bytes) -> None:
        """409 when this signed request (provider, t, body) was taken before; a legacy signature has no t."""
        if header.t is None:
            return
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            seen_at = await repo.signature_seen_at(raw, provider_id, header.t, body_sha256)
        if seen_at is not None:
            raise replayed(seen_at)

    async def note_signature(raw: Any, provider_id: str, header: signature.Header, body_sha256: bytes) -> None:
        """Records the signed request in the caller's transaction (409 when another took it first), and
        now and then forgets those whose window has passed."""
        if header.t is None:
            return
        if not await repo.note_signature(raw, provider_id, header.t, body_sha256, keep_seconds):
            raise replayed(await repo.signature_seen_at(raw, provider_id, header.t, body_sha256))
        now = _now().timestamp()
        if now - purged[0] > 60:
            purged[0] = now
            await repo.forget_expired_signatures(raw)

    async def authenticate(request: Request) -> tuple[str, signature.Verifier, bool]:
        """(provider_id, a verifier to feed the body, whether a match may be accepted) or 401.
        An unknown or revoked provider is checked against a stand-in secret and refused alike."""
        provider_id = request.headers.get("x-provider-id") or ""
        try:
            header = signature.parse(request.headers.get("x-signature") if provider_id else None)
        except signature.Refused as exc:
            raise _detail(401, str(exc)) from None
        found = await provider_keys.get(provider_id) if _PROVIDER_NAME.match(provider_id) else None
        creds = found or _STAND_IN
        allowed = found is not None and (not header.legacy or creds.legacy_signature)
        return provider_id, signature.Verifier(creds.valid(_now()), header), allowed

    def verified(verifier: signature.Verifier, allowed: bool) -> None:
        try:
            verifier.check(allowed)
        except signature.Refused as exc:
            raise _detail(401, str(exc)) from None

    async def replay(provider_id: str, key: str, request_sha256: bytes, path: str) -> Response | None:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            stored = await repo.idempotent_response(raw, provider_id, key)
        if stored is None:
            return None
        stored_sha, stored_path, status, body = stored
        if stored_sha != request_sha256 or stored_path != path:
            raise _detail(409, f"Idempotency-Key {key!r} was already used with a different request")
        return Response(body, status_code=status, media_type=JSON, headers={"Idempotent-Replayed": "true"})

    async def do_push(request: Request, path: str, many: bool) -> Response:
        provider_id, verifier, allowed = await authenticate(request)
        body = await _read_body(request, MAX_PUSH_BYTES)
        verifier.update(body)
        verified(verifier, allowed)
        body_sha256 = hashlib.sha256(body).digest()
        key = request.headers.get("idempotency-key")
        claim = None
        if key is not None:
            if not 0 < len(key) <= 255:
                raise _invalid([{"field": "Idempotency-Key", "reason": "must be 1 to 255 characters"}])
            claim = handlers.IdempotencyClaim(key, body_sha256, path)
            await refuse_seen(provider_id, verifier.header, body_sha256)  # before the stored answer is given
            if (answer := await replay(provider_id, key, claim.request_sha256, path)) is not None:
                return answer
        payments = _validate(body, many)
        try:
            async with runtime.uow(correlation_id=correlation_id(request), actor=provider_id) as uow:
                await note_signature(uow.raw, provider_id, verifier.header, body_sha256)
                answer = await handlers.push(uow, provider_id, payments, received_at=_now(),
                                             render=_batch_answer if many else _one_answer,
                                             status_code=202, idempotency=claim)
                await uow.commit()
        except handlers.IdempotencyKeyTaken:
            assert claim is not None
            replayed = await replay(provider_id, claim.key, claim.request_sha256, path)
            if replayed is None:
                raise _detail(409, f"Idempotency-Key {claim.key!r} is being used by another request") from None
            return replayed
        return Response(answer, status_code=202, media_type=JSON)

    # who may call: provider routes are proven by their HMAC signature (`signed`), the rest by a user's token
    SIGNED = [Depends(signed)]
    ADMIN = require("admin")
    READERS = [Depends(require("officer", "manager", "finance", "ops"))]

    @router.post("/payments", status_code=202, tags=["push"], summary="push one payment (signed)", dependencies=SIGNED,
                 openapi_extra=_push_schema(False),
                 responses={202: {"description": '{"payment_id", "status": "accepted"|"duplicate"}'},
                            401: {"description": SIGNATURE_401}, 409: {"description": REPLAY_409},
                            422: {"description": "every field error: [{field, reason}]"}})
    async def push_payment(request: Request) -> Response:
        return await do_push(request, "/v1/payments", many=False)

    @router.post("/payments/batch", status_code=202, tags=["push"], summary="push a JSON array of payments (signed)",
                 dependencies=SIGNED,
                 openapi_extra=_push_schema(True),
                 responses={202: {"description": '{"accepted", "duplicates", "payments": [{item, provider_ref, '
                                                  'payment_id, status}]}; item is the 0-based array index'},
                            401: {"description": SIGNATURE_401}, 409: {"description": REPLAY_409},
                            422: {"description": "every error: [{item, field, reason}]; nothing is stored"}})
    async def push_batch(request: Request) -> Response:
        return await do_push(request, "/v1/payments/batch", many=True)

    @router.get("/payments/{payment_id}", tags=["push"], summary="a stored payment", dependencies=READERS)
    async def get_payment(payment_id: Annotated[Text, Path()]) -> Response:
        return await stored("payment", payment_id, repo.get_payment)

    @router.post("/providers", status_code=201, response_model=ProviderOut, tags=["providers"],
                 summary="register a payment provider; answers its signing secret (the only time it is shown)",
                 responses={409: {"description": "a provider of that name exists"}})
    async def add_provider(body: ProviderIn, request: Request, caller: Caller = Depends(ADMIN)) -> ProviderOut:
        async with runtime.uow_for(request, caller) as uow:
            try:
                secret = await providers.register(uow, box, body.name, body.secret,
                                                  legacy_signature=body.legacy_signature)
            except providers.ProviderExists:
                raise _detail(409, f"provider {body.name!r} exists already (rotate its secret with "
                                   f"`rentflow providers rotate {body.name}`)") from None
            uow.audit("provider.added", subject=body.name,
                      after={"provider_id": body.name, "legacy_signature": body.legacy_signature})
            await uow.commit()
        provider_keys.forget(body.name)
        return ProviderOut(provider_id=body.name, name=body.name, secret=secret,
                           legacy_signature=body.legacy_signature)

    @router.get("/providers", tags=["providers"], summary="the providers, never their secrets",
                responses={200: {"description": '{"providers": [{provider_id, status: active|revoked, '
                                                'legacy_signature, created_at, rotated_at, revoked_at, '
                                                'previous_secret_valid_until}]}'}})
    async def list_providers(caller: Caller = Depends(ADMIN)) -> Response:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            rows = await repo.list_providers(raw)
        now = _now()
        return Response(orjson.dumps({"providers": [providers.view(r, now) for r in rows]}), media_type=JSON)

    @router.post("/providers/{name}/rotate", response_model=RotateOut, tags=["providers"],
                 summary="a new signing secret; the previous one stays valid for RENTFLOW_SECRET_ROLLOVER_HOURS",
                 responses={404: {"description": "no such provider"}})
    async def rotate_provider(name: ProviderName, request: Request, body: RotateIn | None = None,
                              caller: Caller = Depends(ADMIN)) -> RotateOut:
        async with runtime.uow_for(request, caller) as uow:
            try:
                secret, until = await providers.rotate(uow, box, name, body.secret if body else None, now=_now(),
                                                       rollover=rollover)
            except providers.UnknownProvider:
                raise _detail(404, f"unknown provider {name!r}") from None
            uow.audit("provider.rotated", subject=name,
                      after={"previous_secret_valid_until": until.isoformat() if until else None})
            await uow.commit()
        provider_keys.forget(name)
        return RotateOut(provider_id=name, secret=secret, previous_secret_valid_until=until)

    @router.post("/providers/{name}/revoke", tags=["providers"],
                 summary="no secret of the provider is accepted any more (a later rotate issues a new one)",
                 responses={200: {"description": '{"provider_id", "status": "revoked"}'},
                            404: {"description": "no such provider"}})
    async def revoke_provider(name: ProviderName, request: Request, caller: Caller = Depends(ADMIN)) -> Response:
        async with runtime.uow_for(request, caller) as uow:
            try:
                await providers.revoke(uow, name, now=_now())
            except providers.UnknownProvider:
                raise _detail(404, f"unknown provider {name!r}") from None
            uow.audit("provider.revoked", subject=name, after={"status": "revoked"})
            await uow.commit()
        provider_keys.forget(name)
        return Response(orjson.dumps({"provider_id": name, "status": "revoked"}), media_type=JSON)

    async def ensure_provider(provider: str) -> None:
        async with runtime.uow() as uow:
            await providers.ensure(uow, box, provider)
            await uow.commit()

    def import_options(request: Request) -> dict[str, str]:
        """The query's format options, checked: a bounded number of short texts without control
        characters, and `skip` a pattern RE2 runs (the setting RENTFLOW_STATEMENT_SKIP when not given)."""
        options = {k: v for k, v in request.query_params.items() if k not in IMPORT_PARAMS}
        errors = []
        if len(options) > MAX_OPTIONS:
            errors.append({"field": None, "reason": f"at most {MAX_OPTIONS} options, got {len(options)}"})
        for k, v in options.items():
            if len(k) > MAX_OPTION_CHARS or not _OPTION_NAME.match(k):
                errors.append({"field": k[:MAX_OPTION_CHARS], "reason": "not an option name"})
            elif len(v) > MAX_OPTION_CHARS:
                errors.append({"field": k, "reason": f"at most {MAX_OPTION_CHARS} characters, got {len(v)}"})
            elif any(ord(c) < 0x20 or ord(c) == 0x7f for c in v):
                errors.append({"field": k, "reason": "must not contain NUL or other control characters"})
        if "skip" in options and not errors:
            try:
                compile_pattern(options["skip"])
            except PatternError as exc:
                errors.append({"field": "skip", "reason": str(exc)})
        if errors:
            raise _invalid(errors)
        if "skip" not in options and settings.statement_skip:
            options["skip"] = settings.statement_skip
        return options

    async def do_import(request: Request, provider_id: str | None, fmt_name: str,
                        verifier: signature.Verifier | None = None, allowed: bool = False) -> Response:
        """`provider_id` None (an operator's upload naming none): the format's own provider
        (govuk-pay for webhook replays), else file-import, created on first use."""
        if fmt_name != formats.AUTO and fmt_name not in formats.FORMATS:
            raise _detail(422, f"unknown format {fmt_name!r}; supported: {', '.join(formats.supported())}")
        options = import_options(request)
        fp, sha256, size = await _spool(request, verifier, max_file_bytes)
        try:
            if verifier is not None:
                verified(verifier, allowed)
                assert provider_id is not None
                async with runtime.uow() as uow:  # a signed file is taken once, like a push
                    await note_signature(uow.raw, provider_id, verifier.header, bytes.fromhex(sha256))
                    await uow.commit()
            try:
                fp.seek(0)
                fmt = formats.resolve(fmt_name, fp.read(formats.SNIFF_BYTES))
                if provider_id is None:
                    provider_id = fmt.default_provider or DEFAULT_IMPORT_PROVIDER
                    if fmt.default_provider is None:  # a format's own provider is registered with its real secret
                        await ensure_provider(provider_id)
                summary = await imports.import_file(
                    runtime.uow, provider_id, fmt, fp, sha256=sha256, size=size, options=options,
                    correlation_id=request.headers.get("x-correlation-id") and correlation_id(request),
                    received_at=_now())
            except formats.Unreadable as exc:
                raise _detail(422, f"unreadable file: {exc}") from None
        finally:
            fp.close()
        return Response(orjson.dumps(summary.as_dict()), status_code=202, media_type=JSON)

    file_responses: dict[int | str, dict[str, Any]] = {
        202: {"description": '{"import_id", "format", "accepted", "rejected", "duplicates", '
                             '"errors": [{"line"|"item", "field", "reason"}]}'},
        413: {"description": f"file larger than {max_file_bytes} bytes"},
        422: {"description": "unknown format, or a file that cannot be read at all (nothing posted)"}}

    @router.post("/files", status_code=202, tags=["files"], openapi_extra=_file_schema(True),
                 responses={**file_responses, 401: {"description": SIGNATURE_401},
                            409: {"description": REPLAY_409}},
                 summary="a provider's statement or report file (signed like a push)", dependencies=SIGNED)
    async def upload_file(request: Request, format: str = Query(formats.AUTO, description="file format")) -> Response:
        provider_id, verifier, allowed = await authenticate(request)
        return await do_import(request, provider_id, format, verifier, allowed)

    @router.post("/imports", status_code=202, tags=["files"], openapi_extra=_file_schema(False),
                 responses=file_responses,
                 summary="an operator's upload (unsigned: an officer's or finance user's token); the provider is "
                         "created on first use; who uploaded it is in the audit trail")
    async def operator_import(request: Request, format: str = Query(formats.AUTO, description="file format"),
                              provider: str | None = Query(None, description="provider the file is from; default "
                                                           "file-import (govuk-pay for GOV.UK Pay replays)"),
                              caller: Caller = Depends(require("officer", "finance"))) -> Response:
        if provider is not None:
            if not _PROVIDER_NAME.match(provider):
                raise _invalid([{"field": "provider", "reason": f"must match {PROVIDER_NAME}"}])
            if provider != GOVUK_PAY:
                await ensure_provider(provider)
        answer = await do_import(request, provider, format)
        async with runtime.uow_for(request, caller) as uow:
            summary = orjson.loads(answer.body)
            uow.audit("file.imported", subject=summary.get("import_id"),
                      after={k: summary.get(k) for k in ("import_id", "format", "provider_id", "accepted", "rejected",
                                                         "duplicates")})
            await uow.commit()
        return answer

    @router.get("/imports", tags=["files"], summary="imports of a file, by its sha256 (progress of a running one)",
                dependencies=READERS)
    async def find_imports(sha256: str = Query(..., pattern=r"^[0-9a-f]{64}$")) -> Response:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            rows = await repo.imports_of_file(raw, sha256)
        return Response(orjson.dumps({"imports": rows}, default=str), media_type=JSON)

    @router.post("/webhooks/govuk-pay", tags=["push"], summary="GOV.UK Pay webhook delivery (Pay-Signature)",
                 dependencies=SIGNED,
                 responses={200: {"description": '{"status": "accepted"|"duplicate"|"recorded"|"ignored", '
                                                 '"payment_id"}: stored'},
                            401: {"description": "missing or bad Pay-Signature (also when provider govuk-pay is "
                                                 "not registered or revoked: the service log says which)"},
                            422: {"description": "not a GOV.UK Pay webhook body"}})
    async def govuk_pay_webhook(request: Request) -> Response:
        header = (request.headers.get("pay-signature") or "").strip().lower()
        if not header:
            raise _detail(401, "missing Pay-Signature")
        found = await provider_keys.get(GOVUK_PAY)
        if found is None:
            log.warning("govuk_pay.webhook.unregistered",
                        hint="register it: rentflow providers add govuk-pay --secret <the webhook signing secret>")
        body = await _read_body(request, MAX_WEBHOOK_BYTES)
        ok = False
        for secret in (found or _STAND_IN).valid(_now()):
            expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            ok |= hmac.compare_digest(header.encode("ascii", "replace"), expected.encode())
        if not (ok and found is not None):
            raise _detail(401, "bad signature")
        try:
            event = CARD_EVENT.validate_json(body)
        except ValidationError as exc:
            raise _invalid(field_errors(exc)) from None
        async with runtime.uow(correlation_id=correlation_id(request), actor=GOVUK_PAY) as uow:
            outcome, pid = await card_payments.apply(uow, GOVUK_PAY, event, source="webhook", import_id=None,
                                                     correlation_id=uow.correlation_id, received_at=_now())
            await uow.commit()
        log.info("govuk_pay.webhook", outcome=outcome, event_type=event.event_type, resource_id=event.resource_id)
        return Response(orjson.dumps({"status": outcome, "payment_id": pid}), media_type=JSON)

    @router.get("/imports/{import_id}", tags=["files"], summary="summary of an import", dependencies=READERS)
    async def get_import(import_id: Annotated[Text, Path()]) -> Response:
        return await stored("import", import_id, repo.get_import)

    return router


def _batch_answer(outcomes: list[handlers.Outcome]) -> bytes:
    """A batch push's 202 body: the counts, and each item's outcome by its index."""
    accepted = [o.status for o in outcomes].count(handlers.ACCEPTED)
    return orjson.dumps({
        "accepted": accepted, "duplicates": len(outcomes) - accepted,
        "payments": [{"item": i, "provider_ref": ref, "payment_id": pid, "status": status}
                     for i, (ref, pid, status) in enumerate(outcomes)]})


def _one_answer(outcomes: list[handlers.Outcome]) -> bytes:
    return orjson.dumps({"payment_id": outcomes[0].payment_id, "status": outcomes[0].status})


def _validate(body: bytes, many: bool) -> list[Payment]:
    """The push body as payments, or 422 listing every error (with `item` for a batch)."""
    payments = fast_push(body, many)
    if payments and len(payments) <= MAX_BATCH_ITEMS:
        return payments
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _invalid([{"field": None, "reason": f"body is not valid JSON: {exc}"}]) from None
    if many:
        if not isinstance(data, list):
            raise _invalid([{"field": None, "reason": "expected a JSON array of payments"}])
        if not data:
            raise _invalid([{"field": None, "reason": "the batch is empty"}])
        if len(data) > MAX_BATCH_ITEMS:
            raise _detail(413, f"at most {MAX_BATCH_ITEMS} payments per batch, got {len(data)}")
        try:
            return MANY.validate_python(data)
        except ValidationError as exc:
            raise _invalid(field_errors(exc, item_base=0)) from None
    if not isinstance(data, dict):
        raise _invalid([{"field": None, "reason": "expected a JSON object (one payment); "
                                                  "send arrays to /v1/payments/batch"}])
    try:
        return [ONE.validate_python(data)]
    except ValidationError as exc:
        raise _invalid(field_errors(exc)) from None


async def _spool(request: Request, mac: signature.Verifier | None, limit: int) -> tuple[BinaryIO, str, int]:
    """The request body into a temporary file (memory up to SPOOL_IN_MEMORY_BYTES, then disk),
    hashing it (sha256, and the signature HMAC when given) on the way."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise _detail(413, f"file larger than {limit} bytes")
    fp = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)
    digest = hashlib.sha256()
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _detail(413, f"file larger than {limit} bytes")
            digest.update(chunk)
            if mac is not None:
                mac.update(chunk)
            fp.write(chunk)
    except BaseException:
        fp.close()
        raise
    fp.seek(0)
    return fp, digest.hexdigest(), size  # type: ignore[return-value]
