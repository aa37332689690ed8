"""The HTTP scoring service (BentoML 1.4): ``bentoml serve serving.service:PQAService``.

Start it with ``pqa serve``, which imports the champion into the BentoML model store
and sets ``PQA_MODEL_TAG`` (the model to load) and ``PQA_CONFIG`` (the config file).
The model is loaded once per worker at start-up; without a loadable model the
server stops at once with a message saying how to train one.

Endpoints (POST, JSON): ``score_features``, ``score_features_batch``,
``score_events``, ``score_events_batch``, ``metadata``; BentoML adds ``/healthz``,
``/livez``, ``/readyz`` (ready once the model is loaded) and ``/docs.json``.
Set ``PQA_API_TOKEN`` to require ``Authorization: Bearer <token>`` on every endpoint
but health checks and docs.
"""

from __future__ import annotations

import hmac
import logging
import os
import sys
from typing import Any

import bentoml
import orjson
from starlette.responses import JSONResponse, Response

from pqa.config import Config, load_config
from serving.model_store import CONFIG_ENV, MODEL_TAG_ENV, TRAIN_HINT, load_served_model
from serving.online import ClientError, OnlineScorer
from serving.schemas import (
    EventsRequest,
    EventsScoreList,
    FeatureBatch,
    FeatureRow,
    Metadata,
    Score,
    ScoreList,
)

logger = logging.getLogger(__name__)

TOKEN_ENV = "PQA_API_TOKEN"
MAX_BODY_ENV = "PQA_MAX_BODY_BYTES"
WORKERS_ENV = "PQA_SERVE_WORKERS"
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/docs.json", "/", "/docs"})
"""Paths served without a token: health checks and the API description."""


class RequestGuard:
    """ASGI middleware: bearer-token check and request body size limit.

    Answers 401 when ``PQA_API_TOKEN`` is set and the request lacks the token, and
    413 when the body is larger than ``PQA_MAX_BODY_BYTES`` (64 MiB by default).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.token = os.environ.get(TOKEN_ENV, "").encode()
        self.max_body = int(os.environ.get(MAX_BODY_ENV, DEFAULT_MAX_BODY_BYTES))

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        if self.token and path not in OPEN_PATHS and not path.startswith("/static"):
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, b"Bearer " + self.token):
                await _reply(
                    send,
                    401,
                    "missing or wrong bearer token: send 'Authorization: Bearer <PQA_API_TOKEN>'",
                    {b"www-authenticate": b"Bearer"},
                )
                return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _reply(
                send,
                413,
                f"request body of {int(length)} bytes is over the "
                f"limit of {self.max_body} bytes; split the request",
            )
            return
        if length is None and scope.get("method") == "POST":
            receive = await self._bounded(receive, send)
            if receive is None:
                return
        await self.app(scope, receive, send)

    async def _bounded(self, receive: Any, send: Any) -> Any:
        """Read a body of unknown length up to the limit, then replay it."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_body:
                await _reply(
                    send,
                    413,
                    f"request body is over the limit of {self.max_body} bytes; split the request",
                )
                return None
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


async def _reply(send: Any, status: int, message: str, extra: dict | None = None) -> None:
    response = JSONResponse({"error": message}, status_code=status, headers=None)
    headers = [(k, v) for k, v in response.raw_headers]
    headers += list((extra or {}).items())
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def _client_error(err: ClientError) -> JSONResponse:
    return JSONResponse(err.to_body(), status_code=400)


def _json(payload: Any) -> Response:
    """Answer with already JSON-ready data, skipping a pydantic round trip per score."""
    return Response(
        orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
    )


def _load() -> tuple[OnlineScorer | None, str | None]:
    """Load the config and model named by the environment; return (scorer, problem)."""
    tag = os.environ.get(MODEL_TAG_ENV)
    if not tag:
        return None, (
            f"no model to serve: {MODEL_TAG_ENV} is not set. Start the service with "
            f"'pqa serve' ({TRAIN_HINT} first if there is no champion yet)"
        )
    try:
        path = os.environ.get(CONFIG_ENV)
        cfg: Config = load_config(path or None)
        return OnlineScorer(load_served_model(tag), cfg), None
    except ValueError as err:
        return None, f"cannot load model {tag}: {err}"


@bentoml.service(
    name="pqa",
    workers=int(os.environ.get(WORKERS_ENV, "1")),
    traffic={"timeout": 120},
    logging={"access": {"enabled": False}},
)
class PQAService:
    """Scores accounts: propensity, tier, PQA flag and rules, stage, reasons and play."""

    def __init__(self) -> None:
        scorer, problem = _load()
        if scorer is None:
            logger.critical("%s", problem)
            sys.stderr.write(f"Error: {problem}\n")
            sys.stderr.flush()
            # A worker that cannot load its model must not be restarted in a loop:
            # stop the whole server (the worker's parent is the serving arbiter).
            _stop_server()
        self.scorer = scorer
        logger.info("Serving model %s", scorer.served.model_version)

    def __is_ready__(self) -> bool:
        return self.scorer is not None

    @bentoml.api(input_spec=FeatureRow)
    async def score_features(self, **row: Any) -> Score:
        """Score one account from its feature row."""
        try:
            return _json(self.scorer.score_rows([FeatureRow.model_construct(**row)])[0])
        except ClientError as err:
            return _client_error(err)

    @bentoml.api(input_spec=FeatureBatch)
    def score_features_batch(self, rows: list[FeatureRow]) -> ScoreList:
        """Score up to 5,000 accounts from their feature rows (order kept)."""
        try:
            return _json({"scores": self.scorer.score_rows(rows)})
        except ClientError as err:
            return _client_error(err)

    @bentoml.api(input_spec=EventsRequest)
    def score_events(self, **request: Any) -> Score:
        """Score one account from its raw Segment messages (features as in batch)."""
        try:
            request_ = EventsRequest.model_construct(**request)
            return _json(self.scorer.score_one_from_events(request_))
        except ClientError as err:
            return _client_error(err)

    @bentoml.api(input_spec=EventsRequest)
    def score_events_batch(self, **request: Any) -> EventsScoreList:
        """Score every account found in raw Segment messages, highest propensity first."""
        try:
            scores, rejected = self.scorer.score_events(EventsRequest.model_construct(**request))
        except ClientError as err:
            return _client_error(err)
        return _json({"scores": scores, "rejected": rejected})

    @bentoml.api
    def metadata(self) -> Metadata:
        """The served model: version, features, tier cut-offs, training window, metrics."""
        return _json(self.scorer.metadata())


PQAService.add_asgi_middleware(RequestGuard)


def _stop_server() -> None:
    import signal

    parent = os.getppid()
    if parent > 1:
        os.kill(parent, signal.SIGTERM)
    os._exit(3)
