"""Report to the catalog from outside it: OpenLineage events, plus JSON calls for everything else.

This is the one module ``pipelines/`` and ``ranker/`` use to talk to the catalog, and it talks to it
the way any outside pipeline would: events go through openlineage-python's ``OpenLineageClient``
and ``HttpTransport`` to ``/api/v1/lineage``; other calls are plain JSON over HTTP. It imports
nothing from the catalog's app, models or services (nor Flask or SQLAlchemy)::

    from catalog import client as cc, facets as cf

    catalog = cc.CatalogClient()  # CATALOG_URL, CATALOG_TOKEN
    with catalog.run("pipelines", "user_features", inputs=[("shop", "events")],
                     job_facets={"sql": cf.sql(query)}) as run:
        n = build_features()
        run.add_output("shop", "user_features", facets={
            "schema": cf.schema([("user_id", "BIGINT"), ("clicks", "INTEGER")]),
            "outputStatistics": cf.output_statistics(n),
        })

Datasets are openlineage-python's ``InputDataset`` and ``OutputDataset`` (importable from here too)
or plain ``(namespace, name)`` pairs; :mod:`catalog.facets` builds the facets the catalog
interprets. Every failure is one of two exceptions: :class:`CatalogUnavailable` when no answer
came (after retries), :class:`CatalogRequestError` when the catalog answered with an error, such
as an event refused as invalid (422, naming the offending field).
"""

from __future__ import annotations

import gzip
import json
import os
import traceback
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.serde import Serde
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpCompression,
    HttpConfig,
    HttpTransport,
    TokenProvider,
)
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util import Retry

from catalog.facets import PRODUCER, error_message, parent_run

DEFAULT_URL = "http://127.0.0.1:5000"
LINEAGE_ENDPOINT = "api/v1/lineage"
# Event time of job definitions: fixed, so identical definitions make identical events.
DEFINED_AT = "2000-01-01T00:00:00+00:00"
# Answers that mean "not now" from a proxy or a busy server; everything else is final.
RETRY_STATUSES = (502, 503, 504)


class CatalogUnavailable(Exception):
    """The catalog gave no answer: refused connection, timeout, or retries used up."""


class CatalogRequestError(Exception):
    """The catalog answered with an error; ``body`` is its JSON error (or text) as sent."""

    def __init__(self, status: int, body: Any, message: str | None = None):
        self.status = status
        self.body = body
        if message is None:
            message = _describe(body)
        super().__init__(f"catalog refused the request ({status}): {message}")


def _describe(body: Any) -> str:
    """One line from a catalog error body: its message, prefixed by the field it names."""
    if isinstance(body, dict) and "message" in body:
        field = body.get("field")
        return f"{field}: {body['message']}" if field else str(body["message"])
    return str(body)[:500]


def _body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _now() -> str:
    return datetime.now(UTC).isoformat()


class RunAborted(Exception):
    """Raised in a :class:`RunReporter` block: the run was stopped, not failed (ABORT)."""


class CatalogClient:
    """A connection to one catalog: emits OpenLineage events and calls its JSON API.

    ``retries`` is how often a request that got no answer, or a 502/503/504, is tried again, waiting
    ``backoff`` seconds doubled each time (the first retry is immediate). Re-sending an event is
    safe: the catalog stores identical events once. Other 4xx/5xx answers are never retried.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        compression: bool = False,
        producer: str = PRODUCER,
    ):
        self.url = (url or os.environ.get("CATALOG_URL") or DEFAULT_URL).rstrip("/") + "/"
        self.timeout = timeout
        self.compression = compression
        self.producer = producer
        token = token or os.environ.get("CATALOG_TOKEN")
        retry = {
            "total": retries, "connect": retries, "read": retries, "status": retries,
            "backoff_factor": backoff, "status_forcelist": list(RETRY_STATUSES),
            "allowed_methods": ["HEAD", "GET", "PUT", "POST"],
            # Hand back the last 5xx answer instead of urllib3's RetryError, so its body is kept.
            "raise_on_status": False,
        }
        # One session and one retry policy for events and JSON calls alike.
        adapter = HTTPAdapter(max_retries=Retry(**retry))
        self.session = requests.Session()
        self.session.mount(self.url, adapter)
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self._ol = OpenLineageClient(
            transport=HttpTransport(
                HttpConfig(
                    url=self.url,
                    endpoint=LINEAGE_ENDPOINT,
                    timeout=timeout,
                    auth=ApiKeyTokenProvider({"api_key": token}) if token else TokenProvider({}),
                    compression=HttpCompression.GZIP if compression else None,
                    session=self.session,
                    adapter=adapter,
                    retry=retry,
                )
            )
        )

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()

    # --- OpenLineage ----------------------------------------------------------------------------

    def emit(self, event) -> None:
        """Send one openlineage-python event; raise unless the catalog stored (or had) it."""
        try:
            self._ol.emit(event)
        except requests.HTTPError as exc:
            raise CatalogRequestError(exc.response.status_code, _body(exc.response)) from None
        except requests.RequestException as exc:
            raise self._unavailable(exc) from None

    def emit_batch(self, events: Iterable) -> dict:
        """Send events (openlineage-python objects or dicts) in one request; return its statuses.

        The catalog stores each event on its own. If any was refused this raises
        :class:`CatalogRequestError` naming the first refusal; its ``body`` still lists every
        event's status, so the caller can tell which were stored.
        """
        payload = [e if isinstance(e, Mapping) else Serde.to_dict(e) for e in events]
        data = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if self.compression:
            data = gzip.compress(data, compresslevel=3)
            headers["Content-Encoding"] = "gzip"
        body = self._request("POST", f"{LINEAGE_ENDPOINT}/batch", data=data, headers=headers)
        if body.get("failed"):
            first = next(r for r in body["results"] if r.get("status") == "error")
            message = (
                f"{body['failed']} of {len(payload)} events refused; "
                f"event {first['index']}: {_describe(first)}"
            )
            raise CatalogRequestError(207, body, message)
        return body

    def define_jobs(self, jobs: Iterable[tuple[str, str, dict, Iterable, Iterable]], *,
                    at: str = DEFINED_AT) -> dict:
        """Register job definitions (no run): ``(namespace, name, facets, inputs, outputs)``.

        Sent as OpenLineage JobEvents stamped ``at`` (a fixed time by default), so registering an
        unchanged definition again is a no-op in the catalog.
        """
        events = [JobEvent(eventTime=at, producer=self.producer,
                           job=Job(namespace=ns, name=name, facets=dict(facets)),
                           inputs=[_as_input(d) for d in inputs],
                           outputs=[_as_output(d) for d in outputs])
                  for ns, name, facets, inputs, outputs in jobs]
        return self.emit_batch(events)

    def run(
        self,
        namespace: str,
        job_name: str,
        *,
        inputs: Iterable = (),
        outputs: Iterable = (),
        job_facets: dict | None = None,
        run_facets: dict | None = None,
        parent: RunReporter | tuple[str, str, str] | None = None,
        run_id: str | None = None,
    ) -> RunReporter:
        """A context manager reporting one run of ``namespace``/``job_name`` (see RunReporter).

        ``inputs`` and ``outputs`` hold openlineage-python datasets or ``(namespace, name)``
        pairs; ``parent`` is the parent run's reporter or its ``(namespace, job, run_id)``.
        """
        return RunReporter(
            self, namespace, job_name, inputs=inputs, outputs=outputs, job_facets=job_facets,
            run_facets=run_facets, parent=parent, run_id=run_id,
        )

    # --- JSON API -------------------------------------------------------------------------------

    def get(self, path: str, **params) -> Any:
        """GET ``path`` (relative to the catalog URL) with query ``params``; the decoded JSON."""
        return self._request("GET", path, params=params)

    def post(self, path: str, json: Any) -> Any:
        """POST a JSON body to ``path``; the decoded JSON answer."""
        return self._request("POST", path, json=json)

    def put(self, path: str, json: Any) -> Any:
        """PUT a JSON body to ``path``; the decoded JSON answer."""
        return self._request("PUT", path, json=json)

    def health(self) -> bool:
        """True when the catalog answers ``/healthz`` (so its database is up) without error."""
        try:
            # The same probe as the Dockerfile's HEALTHCHECK; unauthenticated by design.
            self.get("healthz")
        except (CatalogUnavailable, CatalogRequestError):
            return False
        return True

    def _request(self, method: str, path: str, **kwargs) -> Any:
        try:
            response = self.session.request(
                method, self.url + path.lstrip("/"), timeout=self.timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise self._unavailable(exc) from None
        if response.status_code >= 400:
            raise CatalogRequestError(response.status_code, _body(response))
        return _body(response) if response.content else None

    def _unavailable(self, exc: requests.RequestException) -> CatalogUnavailable:
        # requests nests urllib3's MaxRetryError around the socket error; report the innermost.
        reason: BaseException = exc
        while True:
            inner = getattr(reason, "reason", None) or reason.__cause__ or reason.__context__
            if inner is None or inner is reason:
                break
            reason = inner
        if isinstance(exc, requests.Timeout) or isinstance(reason, TimeoutError | ReadTimeoutError):
            text = f"no answer within {self.timeout}s"
        elif isinstance(reason, OSError) and reason.strerror:
            text = reason.strerror
        else:
            text = str(reason)
        return CatalogUnavailable(f"catalog at {self.url.rstrip('/')} is unreachable: {text}")


def _as_input(d) -> InputDataset:
    return d if isinstance(d, InputDataset) else InputDataset(namespace=d[0], name=d[1])


def _as_output(d) -> OutputDataset:
    return d if isinstance(d, OutputDataset) else OutputDataset(namespace=d[0], name=d[1])


class RunReporter:
    """One run reported as it happens: START on enter, COMPLETE on a clean exit, FAIL on error.

    Outputs and their facets (schema, lineage, quality, version, statistics) are usually known
    only at the end: add them with :meth:`add_output` before the block exits and they go out
    with COMPLETE. If the block raises, FAIL carries the exception (message and stack trace) and
    the exception propagates unchanged; a failure to report FAIL is not allowed to hide it.
    An interruption (KeyboardInterrupt, SystemExit) or :class:`RunAborted` is reported as ABORT
    rather than FAIL.
    """

    def __init__(self, client: CatalogClient, namespace: str, job_name: str, *, inputs=(),
                 outputs=(), job_facets=None, run_facets=None, parent=None, run_id=None):
        self.client = client
        self.job = Job(namespace=namespace, name=job_name, facets=dict(job_facets or {}))
        self.run_id = run_id or str(uuid.uuid4())
        self.run_facets: dict = dict(run_facets or {})
        if parent is not None:
            pns, pjob, prun = (
                (parent.job.namespace, parent.job.name, parent.run_id)
                if isinstance(parent, RunReporter) else parent
            )
            self.run_facets["parent"] = parent_run(pns, pjob, prun)
        # Keyed by (namespace, name) so adding a dataset twice merges its facets.
        self.inputs: dict[tuple[str, str], InputDataset] = {}
        self.outputs: dict[tuple[str, str], OutputDataset] = {}
        for d in map(_as_input, inputs):
            self.inputs[(d.namespace, d.name)] = d
        for d in map(_as_output, outputs):
            self.outputs[(d.namespace, d.name)] = d

    def add_input(self, namespace: str, name: str, *, facets: dict | None = None,
                  input_facets: dict | None = None) -> None:
        """Declare (or add facets to) a dataset the run read."""
        d = self.inputs.setdefault((namespace, name), InputDataset(namespace=namespace, name=name))
        d.facets = {**(d.facets or {}), **(facets or {})}
        d.inputFacets = {**(d.inputFacets or {}), **(input_facets or {})}

    def add_output(self, namespace: str, name: str, *, facets: dict | None = None,
                   output_facets: dict | None = None) -> None:
        """Declare (or add facets to) a dataset the run wrote; reported with COMPLETE."""
        d = self.outputs.setdefault(
            (namespace, name), OutputDataset(namespace=namespace, name=name)
        )
        d.facets = {**(d.facets or {}), **(facets or {})}
        d.outputFacets = {**(d.outputFacets or {}), **(output_facets or {})}

    def add_run_facets(self, **facets) -> None:
        """Attach run facets (e.g. ``processing_engine``) to the events still to be sent."""
        self.run_facets.update(facets)

    def add_job_facets(self, **facets) -> None:
        """Attach job facets (e.g. ``sql``) to the events still to be sent."""
        self.job.facets = {**(self.job.facets or {}), **facets}

    def event(self, state: RunState, run_facets: dict | None = None) -> RunEvent:
        """The RunEvent for ``state`` with everything declared so far."""
        return RunEvent(
            eventType=state,
            eventTime=_now(),
            producer=self.client.producer,
            run=Run(runId=self.run_id, facets={**self.run_facets, **(run_facets or {})}),
            job=self.job,
            inputs=list(self.inputs.values()),
            outputs=list(self.outputs.values()),
        )

    def __enter__(self) -> RunReporter:
        self.client.emit(self.event(RunState.START))
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            self.client.emit(self.event(RunState.COMPLETE))
            return False
        failure = error_message(
            str(exc) or exc_type.__name__, "".join(traceback.format_exception(exc))
        )
        failed = isinstance(exc, Exception) and not isinstance(exc, RunAborted)
        state = RunState.FAIL if failed else RunState.ABORT
        try:
            self.client.emit(self.event(state, {"errorMessage": failure}))
        except (CatalogUnavailable, CatalogRequestError) as report_error:
            exc.add_note(f"(reporting the failure to the catalog failed too: {report_error})")
        return False
