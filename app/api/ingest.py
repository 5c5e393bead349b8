"""Ingest edges: OTLP traces, canonical events, vendor webhooks, pushed queue samples.

Routes only check the request and call the codecs in ``collectors/``; accepted rows go
to the durable ingest buffer, so a 2xx means the data survives a crash.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from app.api.schemas import IngestResult
from app.auth import INGEST, READ, SIGNED
from app.context import AppContext
from app.deps import Ctx
from app.metrics import render
from collectors.adapters import AdapterAuthError, AdapterError
from collectors.events import EventsDecodeError, parse_events, validate_events
from collectors.otlp import OtlpDecodeError, decode_traces, encode_response
from collectors.queue_metrics import QueueSample, samples_to_arrow
from models.ingest.buffer import Backpressure
from models.queries.ingest import stored_event_ids

router = APIRouter(tags=["ingest"])
otlp_router = APIRouter(tags=["ingest"])

_SAMPLES = TypeAdapter(list[QueueSample])


class BodyTooLarge(Exception):
    """The request body is over ``max_request_bytes``."""


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused as soon as it passes ``limit`` bytes (never buffered beyond)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def _too_large(ctx: AppContext) -> JSONResponse:
    return _error(413, f"request body is larger than {ctx.settings.max_request_bytes:,} bytes")


def _busy(exc: Backpressure) -> JSONResponse:
    return _error(503, str(exc), {"Retry-After": str(exc.retry_after)})


_OTLP_ANSWER = "ExportTraceServiceResponse (partial_success when spans were rejected), in the request's encoding"


@otlp_router.post(
    "/v1/traces",
    openapi_extra=INGEST,
    summary="OTLP/HTTP trace export (protobuf or JSON)",
    response_class=Response,
    responses={200: {"description": _OTLP_ANSWER, "content": {"application/x-protobuf": {}, "application/json": {}}}},
)
async def otlp_traces(request: Request, ctx: Ctx) -> Response:
    """Accept an ExportTraceServiceRequest; rejected spans are reported as partial success."""
    content_type = request.headers.get("content-type", "")
    as_json = content_type.split(";")[0].strip().lower() == "application/json"
    try:
        body = await _read_body(request, ctx.settings.max_request_bytes)
        decoded = await run_in_threadpool(
            decode_traces,
            body,
            content_type=content_type,
            content_encoding=request.headers.get("content-encoding"),
            max_bytes=ctx.settings.max_request_bytes,
        )
        ctx.buffer.submit("spans", decoded.table)
    except BodyTooLarge:
        return _too_large(ctx)
    except OtlpDecodeError as exc:
        ctx.counters.add("traces", rejected=1)
        return _error(exc.status_code, str(exc))
    except Backpressure as exc:
        return _busy(exc)
    ctx.counters.add("traces", accepted=decoded.table.num_rows, rejected=decoded.rejected)
    message = "; ".join(decoded.errors)
    return Response(
        encode_response(decoded.rejected, message, as_json=as_json),
        media_type="application/json" if as_json else "application/x-protobuf",
    )


@router.post(
    "/events",
    response_model=IngestResult,
    openapi_extra=INGEST,
    summary="Canonical business events: JSON object, array or NDJSON",
)
async def post_events(request: Request, ctx: Ctx) -> JSONResponse:
    """Store the valid records, report each invalid one by index; re-sent ids are no-ops."""
    try:
        body = await _read_body(request, ctx.settings.max_request_bytes)
        parsed = await run_in_threadpool(
            parse_events,
            body,
            content_type=request.headers.get("content-type", ""),
            received_at=ctx.now(),
        )
    except BodyTooLarge:
        return _too_large(ctx)
    except EventsDecodeError as exc:
        return _error(exc.status_code, str(exc))
    if parsed.count == 0:
        return _error(400, "the body holds no events")
    return await _store_events(ctx, "events", parsed.table, parsed.rejected)


@router.post(
    "/webhooks/{adapter}",
    response_model=IngestResult,
    openapi_extra=SIGNED,
    summary="Vendor-native webhooks mapped to canonical events",
)
async def post_webhook(adapter: str, request: Request, ctx: Ctx) -> JSONResponse:
    """Verify the signature, map the native payload, store it like canonical events."""
    codec = ctx.adapters.get(adapter)
    if codec is None:
        return _error(404, f"unknown adapter {adapter!r}; known: {', '.join(sorted(ctx.adapters))}")
    try:
        body = await _read_body(request, ctx.settings.max_request_bytes)
    except BodyTooLarge:
        return _too_large(ctx)
    headers = dict(request.headers)
    secrets = {"shopify": ctx.settings.shopify_secret, **ctx.settings.webhook_secrets}
    try:
        codec.verify(headers, body, secrets)
    except AdapterAuthError as exc:
        ctx.counters.add(f"webhook:{adapter}", rejected=1)
        return _error(401, str(exc))
    try:
        records = codec.to_events(headers, body, received_at=ctx.now())
    except AdapterError as exc:
        ctx.counters.add(f"webhook:{adapter}", rejected=1)
        return _error(422, str(exc))
    if not records:  # a kind of message Flowwatch does not use: acknowledged, so the sender keeps sending
        ctx.counters.add(f"webhook:{adapter}", ignored=1)
        return JSONResponse({"accepted": 0, "duplicates": 0, "rejected": [], "ignored": 1})
    parsed = validate_events(records, received_at=ctx.now())
    return await _store_events(ctx, f"webhook:{adapter}", parsed.table, parsed.rejected)


async def _store_events(ctx: AppContext, source: str, table: pa.Table, rejected: list[dict[str, Any]]) -> JSONResponse:
    """Drop ids already stored, pending or repeated, submit the rest, answer per record."""
    ids = table.column("event_id").to_pylist()
    seen = await run_in_threadpool(_known_ids, ctx, ids)
    keep, fresh_ids = [], set()
    for i, event_id in enumerate(ids):
        if event_id not in seen and event_id not in fresh_ids:
            keep.append(i)
            fresh_ids.add(event_id)
    fresh = table.take(pa.array(keep, type=pa.int64()))
    try:
        ctx.buffer.submit("business_events", fresh)
    except Backpressure as exc:
        return _busy(exc)
    duplicates = len(ids) - len(keep)
    ctx.counters.add(source, accepted=len(keep), rejected=len(rejected), duplicates=duplicates)
    if fresh.num_rows:
        lag_us = pc.subtract(fresh.column("received_at"), fresh.column("occurred_at")).cast(pa.int64())
        ctx.counters.observe_delivery_lag((pc.sum(lag_us).as_py() or 0) / 1e6, fresh.num_rows)
    body = {"accepted": len(keep), "duplicates": duplicates, "rejected": rejected}
    status = 422 if rejected and not ids else 200
    return JSONResponse(body, status_code=status)


def _known_ids(ctx: AppContext, ids: list[str]) -> set[str]:
    with ctx.engine.connect() as conn:
        return stored_event_ids(conn, ids) | ctx.buffer.pending_event_ids(ids)


@router.post(
    "/queue-samples",
    response_model=IngestResult,
    openapi_extra=INGEST,
    summary="Pushed queue-depth samples (one object or a list)",
)
async def post_queue_samples(request: Request, ctx: Ctx) -> JSONResponse:
    """All-or-nothing: a batch with any invalid sample is refused, naming each bad one."""
    try:
        body = await _read_body(request, ctx.settings.max_request_bytes)
        document = orjson.loads(body)
    except BodyTooLarge:
        return _too_large(ctx)
    except orjson.JSONDecodeError as exc:
        return _error(400, f"body is not JSON: {exc}")
    items = document if isinstance(document, list) else [document]
    try:
        samples = _SAMPLES.validate_python(items)
    except ValidationError as exc:
        errors = [
            {"index": err["loc"][0], "error": f"{'.'.join(str(p) for p in err['loc'][1:])}: {err['msg']}"}
            for err in exc.errors()
        ]
        ctx.counters.add("queue_samples", rejected=len(items))
        return JSONResponse({"accepted": 0, "rejected": errors}, status_code=422)
    try:
        ctx.buffer.submit("queue_samples", samples_to_arrow(samples))
    except Backpressure as exc:
        return _busy(exc)
    ctx.counters.add("queue_samples", accepted=len(samples))
    return JSONResponse({"accepted": len(samples), "rejected": []})


@otlp_router.get(
    "/metrics",
    openapi_extra=READ,
    summary="Flowwatch's own Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus text exposition format 0.0.4"}},
)
def metrics(ctx: Ctx) -> Response:
    """Prometheus text exposition."""
    return Response(render(ctx.counters, ctx.buffer, ctx.pollers, ctx.brokers), media_type="text/plain; version=0.0.4")
