"""The evaluation endpoints: prompt versions, datasets, case generation and runs.

Everything lives under ``/v1/promptmill/`` and passes the prompt tools' checks, in
their order: the key (401), ``anthropic-version`` (400), ``anthropic-beta`` (400), the
body (400), parsed by hand after those checks so a request without a key learns that
first, then the per-key rate limit (429), so that only well-formed requests use up the
quota (routes without a body count at once). Errors use the API's error body; a bad
field is a 400 whose message starts with the field's path. Everything is scoped to
the key's workspace: another workspace's prompt, dataset or run is a 404.

Runs are background jobs (``promptmill.jobs``): ``POST runs`` stores the run and
enqueues it (202); ``GET runs/{id}`` and ``GET runs/{id}/events`` (Server-Sent
Events) read progress from the store, so they work whichever process does the work.

The routes that call the model are recorded like the tools (``recording``), so their
tokens count in the key's usage and history: ``POST cases/generate`` as a call of
``generate_cases``; a run's model calls by the worker that makes them (``jobs``,
endpoint ``eval_run``), under the key that created the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError

from promptmill.api import auth
from promptmill.api.capacity import run_store
from promptmill.api.error_responses import invalid_request_from
from promptmill.api.evaluation_schemas import (
    CreateRunRequest,
    GenerateCasesRequest,
    PromptSelector,
    SaveDatasetRequest,
    SavePromptRequest,
)
from promptmill.api.json_body import parse_json_object
from promptmill.api.middleware import request_id_of
from promptmill.api.recording import CallRecorder
from promptmill.api.schemas import MessageParam
from promptmill.api.state import app_state
from promptmill.api.streaming import sse_event
from promptmill.config import Settings
from promptmill.engine.cases import check_cases_fill, generate_cases, read_cases
from promptmill.engine.cases import write_cases as write_case_text
from promptmill.engine.evaluation import compare, summarize
from promptmill.engine.graders import validate_graders
from promptmill.engine.types import PromptMessage
from promptmill.engine.versions import PromptTemplate, diff_prompts
from promptmill.errors import (
    APIError,
    InvalidRequestError,
    NotFoundError,
    OverloadedError,
    PromptmillError,
)
from promptmill.eval_types import (
    CaseResult,
    Dataset,
    DatasetList,
    DatasetListItem,
    EvalRun,
    EvalRunList,
    GenerateCasesResponse,
    PromptDiff,
    PromptList,
    PromptListItem,
    PromptRef,
    PromptVersion,
    PromptVersionList,
    RunProgress,
    RunResult,
    RunResultList,
    RunVariantInfo,
    TestCase,
)
from promptmill.jobs import RunSpec, RunVariant
from promptmill.protocol import PROMPTMILL_PREFIX
from promptmill.store import ApiKeyInfo
from promptmill.store.evaluation import check_name
from promptmill.types import ErrorResponse, check_message_order

if TYPE_CHECKING:
    from promptmill.jobs import EvalJobs
    from promptmill.store import DatasetRecord, EvalRunRecord, PromptVersionRecord, Store

SSE_POLL_SECONDS = 0.2
SSE_KEEPALIVE_SECONDS = 15.0
MAX_RESULTS_PAGE = 1000
_CASE_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}

_EXPORT_TYPES = tuple(_CASE_MEDIA_TYPES.values())

T = TypeVar("T")


# --- plumbing -----------------------------------------------------------------------


async def _checked_caller(
    request: Request,
    x_api_key: auth.ApiKeyHeader = None,
    authorization: auth.AuthorizationHeader = None,
    anthropic_version: auth.VersionHeader = None,
    anthropic_beta: auth.BetaHeader = None,
) -> ApiKeyInfo:
    """The key of the request, after the same checks as the prompt tools, in their order."""
    key = await auth.authenticate_key(request, x_api_key, authorization)
    auth.check_anthropic_version(anthropic_version)
    auth.check_prompt_tools_beta(anthropic_beta or [])
    return key


async def _caller(
    request: Request, key: Annotated[ApiKeyInfo, Depends(_checked_caller)]
) -> ApiKeyInfo:
    """The checked key, its request counted against its rate limit (no body to wait for)."""
    await app_state(request).limits().count_request(key.id)
    return key


Caller = Annotated[ApiKeyInfo, Depends(_caller)]
BodyCaller = Annotated[ApiKeyInfo, Depends(_checked_caller)]
"""For routes with a JSON body: ``_body`` counts the request once the body is valid."""


def _store(request: Request) -> Store:
    store = app_state(request).store
    if store is None:
        raise APIError("the store is not ready")
    return store


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _in_store_pool(
    request: Request, function: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """Run blocking store work off the event loop, in the pool model calls never fill."""
    return await run_store(app_state(request).capacity, partial(function, *args, **kwargs))


async def _model_call(request: Request, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a model call as the tools do: admitted (529 beyond the limit), in the model pool."""
    model_calls = app_state(request).capacity.model_calls
    model_calls.admit()
    try:
        return await model_calls.run(partial(function, *args, **kwargs))
    finally:
        model_calls.release()


ModelT = TypeVar("ModelT", bound=BaseModel)


async def _body(request: Request, model: type[ModelT], key: ApiKeyInfo) -> ModelT:
    """The request's valid body; then, and only then, the request counts for ``key``."""
    payload = parse_json_object(await request.body())
    try:
        body = model.model_validate(payload)
    except ValidationError as exc:
        raise invalid_request_from(exc) from None
    await app_state(request).limits().count_request(key.id)
    return body


def _with_field(field: str, error: PromptmillError) -> InvalidRequestError:
    """A 400 whose message is ``error``'s, under the request field ``field``."""
    return InvalidRequestError(f"{field}.{error.message}" if field else error.message)


def _template(messages: Sequence[MessageParam], system: str, field: str) -> PromptTemplate:
    """Checked messages as an engine template; errors name ``field``'s sub-fields."""
    try:
        check_message_order(list(messages))
    except InvalidRequestError as exc:
        raise _with_field(field, exc) from None
    return PromptTemplate(
        messages=[message.to_prompt_message() for message in messages], system=system
    )


def _stored_template(version: PromptVersionRecord) -> PromptTemplate:
    return PromptTemplate(
        messages=[PromptMessage.model_validate(m) for m in version.messages],
        system=version.system,
    )


def _version_view(version: PromptVersionRecord) -> PromptVersion:
    return PromptVersion.model_validate(
        {
            "id": version.id,
            "name": version.name,
            "number": version.number,
            "content_hash": version.content_hash,
            "messages": version.messages,
            "system": version.system,
            "variables": version.variables,
            "created_at": version.created_at,
        }
    )


def _dataset_view(record: DatasetRecord) -> Dataset:
    cases = [TestCase.model_validate(case) for case in record.cases]
    return Dataset(
        name=record.name,
        cases=cases,
        variables=_case_variables(cases),
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _case_variables(cases: Sequence[TestCase]) -> list[str]:
    return list(dict.fromkeys(name for case in cases for name in case.vars))


def _resolve_prompt(
    store: Store, workspace: str, selector: PromptSelector, field: str
) -> tuple[PromptTemplate, PromptRef | None]:
    """An inline prompt, or a saved version by name (a 404 naming ``field`` if missing)."""
    if (selector.name is None) == (selector.messages is None):
        raise InvalidRequestError(
            f"{field}: give either 'name' (a saved prompt, optionally with 'version') or "
            "'messages' (an inline prompt)"
        )
    if selector.messages is not None:
        if not selector.messages:
            raise InvalidRequestError(f"{field}.messages: at least one message is required")
        return _template(selector.messages, selector.system, field), None
    assert selector.name is not None
    try:
        version = store.prompt_version(workspace, selector.name, selector.version)
    except NotFoundError as exc:
        # A 404 like the prompt's own URL answers, naming the field that points at it.
        raise NotFoundError(f"{field}.name: {exc.message}") from None
    return _stored_template(version), PromptRef(name=version.name, version=version.number)


# --- prompts ------------------------------------------------------------------------

router = APIRouter(prefix=PROMPTMILL_PREFIX, tags=["evaluation"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "invalid_request_error: a malformed header or body; the message names the field.",
        401: "authentication_error: missing, unknown or revoked x-api-key.",
        404: "not_found_error: no such prompt, version, dataset or run in this workspace.",
        429: "rate_limit_error: too many requests for this key, or too many failed key checks "
        "from this address; see `retry-after`.",
    }.items()
}


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The ``openapi_extra`` documenting a hand-parsed JSON body."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


@router.post(
    "/prompts",
    status_code=201,
    response_model=PromptVersion,
    responses={
        200: {"model": PromptVersion, "description": "Unchanged: the latest version."},
        **_ERRORS,
    },
    openapi_extra=_json_body(SavePromptRequest),
    summary="Save a prompt version",
)
async def save_prompt(request: Request, key: BodyCaller) -> Response:
    """Save `messages` and `system` under `name`. A changed prompt gets the next version
    number (201); the same content as the latest version returns that version (200)."""
    body = await _body(request, SavePromptRequest, key)
    template = _template(body.messages, body.system, "")
    version, created = await _in_store_pool(
        request,
        _store(request).save_prompt_version,
        key.workspace,
        body.name,
        messages=[m.model_dump(mode="json") for m in template.messages],
        system=template.system,
        variables=template.variables,
        content_hash=template.content_hash,
    )
    view = _version_view(version)
    return Response(
        view.model_dump_json(by_alias=True),
        status_code=201 if created else 200,
        media_type="application/json",
    )


@router.get("/prompts", response_model=PromptList, responses=_ERRORS, summary="List prompts")
async def list_prompts(request: Request, key: Caller) -> PromptList:
    """The workspace's prompts by name, each with its latest version number."""
    prompts = await _in_store_pool(request, _store(request).list_prompts, key.workspace)
    return PromptList(
        data=[
            PromptListItem(
                name=p.name,
                latest_version=p.latest_version,
                versions=p.versions,
                updated_at=p.updated_at,
            )
            for p in prompts
        ]
    )


@router.get(
    "/prompts/{name}/versions",
    response_model=PromptVersionList,
    responses=_ERRORS,
    summary="List a prompt's versions",
)
async def list_prompt_versions(request: Request, name: str, key: Caller) -> PromptVersionList:
    """Every version, oldest first."""
    versions = await _in_store_pool(request, _store(request).prompt_versions, key.workspace, name)
    return PromptVersionList(data=[_version_view(v) for v in versions])


@router.get(
    "/prompts/{name}/versions/{number}",
    response_model=PromptVersion,
    responses=_ERRORS,
    summary="Show a prompt version",
)
async def get_prompt_version(
    request: Request, name: str, number: int, key: Caller
) -> PromptVersion:
    return _version_view(
        await _in_store_pool(request, _store(request).prompt_version, key.workspace, name, number)
    )


@router.get(
    "/prompts/{name}/diff",
    response_model=PromptDiff,
    responses=_ERRORS,
    summary="Diff two prompt versions",
)
async def diff_prompt_versions(
    request: Request,
    name: str,
    key: Caller,
    from_: Annotated[int | None, Query(alias="from", ge=1, description="Default: to - 1.")] = None,
    to: Annotated[int | None, Query(ge=1, description="Default: the latest.")] = None,
) -> PromptDiff:
    """A unified diff of two versions' readable renderings (`[system]`, `[user]`, ...)."""
    store = _store(request)
    newer = await _in_store_pool(request, store.prompt_version, key.workspace, name, to)
    older_number = from_ if from_ is not None else max(1, newer.number - 1)
    older = await _in_store_pool(request, store.prompt_version, key.workspace, name, older_number)
    diff = diff_prompts(
        _stored_template(older),
        _stored_template(newer),
        f"{name}@{older.number}",
        f"{name}@{newer.number}",
    )
    return PromptDiff.model_validate({"from": older.number, "to": newer.number, "diff": diff})


# --- datasets -----------------------------------------------------------------------


@router.put(
    "/datasets/{name}",
    response_model=Dataset,
    responses=_ERRORS,
    openapi_extra=_json_body(SaveDatasetRequest),
    summary="Save a dataset",
)
async def save_dataset(request: Request, name: str, key: BodyCaller) -> Dataset:
    """Create or replace the dataset `name` from `cases`, or from a CSV or JSONL text."""
    body = await _body(request, SaveDatasetRequest, key)
    if body.cases is not None:
        if body.format is not None or body.content is not None:
            raise InvalidRequestError("cases: send either 'cases' or 'format' and 'content'")
        cases = body.cases
    elif body.format is not None and body.content is not None:
        cases = read_cases(body.content, body.format)
    else:
        raise InvalidRequestError(
            "cases: required (or 'format': 'csv'|'jsonl' with the file's text as 'content')"
        )
    record = await _in_store_pool(
        request,
        _store(request).save_dataset,
        key.workspace,
        name,
        [case.model_dump(mode="json") for case in cases],
    )
    return _dataset_view(record)


@router.get("/datasets", response_model=DatasetList, responses=_ERRORS, summary="List datasets")
async def list_datasets(request: Request, key: Caller) -> DatasetList:
    records = await _in_store_pool(request, _store(request).list_datasets, key.workspace)
    items = []
    for record in records:
        view = _dataset_view(record)
        items.append(
            DatasetListItem(
                name=view.name,
                cases=len(view.cases),
                variables=view.variables,
                updated_at=view.updated_at,
            )
        )
    return DatasetList(data=items)


@router.get(
    "/datasets/{name}",
    response_model=Dataset,
    responses={
        200: {"content": {media: {"schema": {"type": "string"}} for media in _EXPORT_TYPES}},
        **_ERRORS,
    },
    summary="Show or export a dataset",
)
async def get_dataset(
    request: Request,
    name: str,
    key: Caller,
    format: Annotated[
        Literal["csv", "jsonl"] | None,
        Query(description="Export the cases as a CSV or JSONL file instead of JSON."),
    ] = None,
) -> Response:
    record = await _in_store_pool(request, _store(request).dataset, key.workspace, name)
    view = _dataset_view(record)
    if format is None:
        return Response(view.model_dump_json(), media_type="application/json")
    return PlainTextResponse(
        write_case_text(view.cases, format),
        media_type=_CASE_MEDIA_TYPES[format],
        headers={"content-disposition": f'attachment; filename="{name}.{format}"'},
    )


# --- case generation ----------------------------------------------------------------


@router.post(
    "/cases/generate",
    response_model=GenerateCasesResponse,
    responses=_ERRORS,
    openapi_extra=_json_body(GenerateCasesRequest),
    summary="Generate test cases",
)
async def generate_test_cases(request: Request, key: BodyCaller) -> GenerateCasesResponse:
    """The model writes `count` varied, realistic cases for the prompt's variables."""
    recorder = CallRecorder(app_state(request), key, "generate_cases", request_id_of(request.scope))
    try:
        answer = await _generate_test_cases(request, key, recorder)
    except PromptmillError as exc:
        await recorder.record(status=exc.status, error_type=exc.error_type, usage=exc.usage)
        raise
    except Exception:
        await recorder.record(status=500, error_type="api_error")
        raise
    await recorder.record(status=200, response=answer.model_dump(mode="json"))
    return answer


async def _generate_test_cases(
    request: Request, key: ApiKeyInfo, recorder: CallRecorder
) -> GenerateCasesResponse:
    raw = await request.body()  # Starlette keeps it: ``_body`` reads the same bytes
    recorder.body_bytes = len(raw)
    body = await _body(request, GenerateCasesRequest, key)
    recorder.request_json = body.model_dump(mode="json", exclude_unset=True)
    recorder.model = body.model
    store = _store(request)
    template, _ = await _in_store_pool(
        request, _resolve_prompt, store, key.workspace, body.prompt, "prompt"
    )
    if body.save_as is not None:
        check_name(body.save_as, "save_as")
    engine = app_state(request).engine
    if engine is None:
        raise APIError("the engine is not ready")
    cases, usage = await _model_call(
        request,
        generate_cases,
        engine.backend,
        template,
        body.count,
        timeout=_settings(request).request_timeout,
        model=body.model,
    )
    if body.save_as is not None:
        await _in_store_pool(
            request,
            store.save_dataset,
            key.workspace,
            body.save_as,
            [case.model_dump(mode="json") for case in cases],
        )
    return GenerateCasesResponse(cases=cases, usage=usage, dataset=body.save_as)


# --- runs ---------------------------------------------------------------------------


def _jobs(request: Request) -> EvalJobs:
    jobs: EvalJobs | None = request.app.state.eval_jobs
    if jobs is None:
        raise APIError("the evaluation queue is not ready")
    return jobs


def _build_run(
    store: Store, key: ApiKeyInfo, body: CreateRunRequest, max_cases: int
) -> tuple[RunSpec, list[TestCase]]:
    """Resolve prompts and cases and check everything a run needs, naming bad fields."""
    workspace = key.workspace
    if (body.cases is None) == (body.dataset is None):
        raise InvalidRequestError("cases: send either 'cases' or the name of a 'dataset'")
    if body.cases is not None:
        cases = body.cases
    else:
        assert body.dataset is not None
        try:
            record = store.dataset(workspace, body.dataset)
        except NotFoundError as exc:
            raise NotFoundError(f"dataset: {exc.message}") from None
        cases = [TestCase.model_validate(case) for case in record.cases]
    if len(cases) > max_cases:
        raise InvalidRequestError(
            f"cases: {len(cases)} cases exceed the limit of {max_cases} per run "
            "(PROMPTMILL_EVAL_MAX_CASES)"
        )
    validate_graders(body.graders)
    variants: list[RunVariant] = []
    for index, requested in enumerate(body.variants):
        field = f"variants.{index}"
        template, ref = _resolve_prompt(store, workspace, requested.prompt, f"{field}.prompt")
        check_cases_fill(cases, template.variables)
        label = requested.label or (
            f"{ref.name}@{ref.version}" if ref is not None else f"variant {index + 1}"
        )
        if requested.label is None and requested.model is not None:
            label = f"{label} ({requested.model})"
        if any(v.label == label for v in variants):
            raise InvalidRequestError(
                f"{field}.label: {label!r} is already the label of another variant; "
                "give each variant its own label"
            )
        variants.append(
            RunVariant(label=label, template=template, model=requested.model, prompt_ref=ref)
        )
    spec = RunSpec(
        variants=variants,
        graders=body.graders,
        temperature=body.temperature,
        max_tokens=body.max_tokens,
        concurrency=body.concurrency,
        key_id=key.id,
    )
    return spec, cases


def _create_run(
    store: Store, jobs: EvalJobs, key: ApiKeyInfo, body: CreateRunRequest, settings: Settings
) -> EvalRunRecord:
    spec, cases = _build_run(store, key, body, settings.eval_max_cases)
    run = store.create_run(
        key.workspace,
        spec=spec.model_dump(mode="json"),
        cases=[case.model_dump(mode="json") for case in cases],
        total=len(cases) * len(spec.variants),
        max_active=settings.eval_max_active_runs,
    )
    try:
        jobs.enqueue_run(run)
    except OverloadedError:
        # The caller is told to try again, so this run must not start later as a twin.
        store.set_run_status(run.id, "failed", error="the evaluation queue was unavailable")
        raise
    return run


def _run_view(store: Store, run: EvalRunRecord) -> EvalRun:
    """The run with the summary and comparison of the results stored so far."""
    spec = RunSpec.model_validate(run.spec)
    results = [CaseResult.model_validate(r.to_dict()) for r in store.results(run.id)]
    return EvalRun.model_validate(
        {
            "id": run.id,
            "status": run.status,
            "total": run.total,
            "done": run.done,
            "errors": run.errors,
            "created_at": run.created_at,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "error": run.error,
            "variants": [
                RunVariantInfo(label=v.label, prompt_ref=v.prompt_ref, model=v.model)
                for v in spec.variants
            ],
            "graders": spec.graders,
            "summary": summarize(results, spec.variants),
            "comparison": compare(results, spec.variants),
        }
    )


def _find_run(store: Store, workspace: str, run_id: str) -> EvalRunRecord:
    run = store.get_run(run_id, workspace=workspace)
    if run is None:
        raise NotFoundError(f"no evaluation run {run_id!r} in this workspace")
    return run


@router.post(
    "/runs",
    status_code=202,
    response_model=EvalRun,
    responses=_ERRORS,
    openapi_extra=_json_body(CreateRunRequest),
    summary="Start an evaluation run",
)
async def create_run(request: Request, key: BodyCaller) -> EvalRun:
    """Evaluate each variant on each case in the background; answers at once (202).

    Follow it with `GET runs/{id}`, or `GET runs/{id}/events` (SSE). Limits:
    `PROMPTMILL_EVAL_MAX_CASES` cases per run, `PROMPTMILL_EVAL_MAX_ACTIVE_RUNS` queued or
    running runs per workspace (400 beyond them).
    """
    body = await _body(request, CreateRunRequest, key)
    store = _store(request)
    run = await _in_store_pool(
        request, _create_run, store, _jobs(request), key, body, _settings(request)
    )
    return await _in_store_pool(request, _run_view, store, run)


@router.get("/runs", response_model=EvalRunList, responses=_ERRORS, summary="List runs")
async def list_runs(
    request: Request, key: Caller, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> EvalRunList:
    """The workspace's runs, newest first."""
    store = _store(request)

    def views() -> list[EvalRun]:
        return [_run_view(store, run) for run in store.list_runs(key.workspace, limit)]

    return EvalRunList(data=await _in_store_pool(request, views))


@router.get("/runs/{run_id}", response_model=EvalRun, responses=_ERRORS, summary="Show a run")
async def get_run(request: Request, run_id: str, key: Caller) -> EvalRun:
    store = _store(request)
    run = await _in_store_pool(request, _find_run, store, key.workspace, run_id)
    return await _in_store_pool(request, _run_view, store, run)


@router.get(
    "/runs/{run_id}/results",
    response_model=RunResultList,
    responses=_ERRORS,
    summary="A run's results",
)
async def get_run_results(
    request: Request,
    run_id: str,
    key: Caller,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_RESULTS_PAGE)] = 100,
) -> RunResultList:
    """Results by case, then variant, each with its case's `vars`, `expected` and `notes`."""
    store = _store(request)
    run = await _in_store_pool(request, _find_run, store, key.workspace, run_id)
    records = await _in_store_pool(request, store.results, run.id, offset, limit + 1)
    labels = [variant["label"] for variant in run.spec["variants"]]
    data = []
    for record in records[:limit]:
        case = TestCase.model_validate(run.cases[record.case_index])
        data.append(
            RunResult.model_validate(
                {
                    **record.to_dict(),
                    "variant": labels[record.variant_index],
                    "vars": case.vars,
                    "expected": case.expected,
                    "notes": case.notes,
                }
            )
        )
    return RunResultList(data=data, has_more=len(records) > limit)


@router.get(
    "/runs/{run_id}/events",
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "string",
                        "description": "`progress` events (`RunProgress`) as results arrive, "
                        "then one `done` event whose data is the `EvalRun`.",
                    }
                }
            }
        },
        **_ERRORS,
    },
    summary="Follow a run (SSE)",
)
async def run_events(request: Request, run_id: str, key: Caller) -> StreamingResponse:
    """Server-Sent Events: `progress` whenever the count of results changes, then `done`
    with the run once it is completed, cancelled or failed."""
    store = _store(request)
    total = (await _in_store_pool(request, _find_run, store, key.workspace, run_id)).total

    def progress_now() -> RunProgress:
        # Two small queries per poll: the run's JSON (spec, case snapshot) is not read.
        # The status first: a run is marked completed only once all its results are
        # committed, so a "completed" read before the counts always comes with every
        # result counted. The other order reported "completed" with a count short when
        # the last result landed between the two reads (seen in CI).
        status = store.run_status(run_id) or ""
        counts = store.counts(run_id)
        return RunProgress(done=counts.done, total=total, status=status)

    async def events() -> AsyncIterator[str]:
        last: RunProgress | None = None
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while True:
            progress = await _in_store_pool(request, progress_now)
            if progress != last:
                last = progress
                yield sse_event("progress", progress.model_dump())
                quiet_since = loop.time()
            if progress.status not in ("queued", "running"):
                run = await _in_store_pool(request, _find_run, store, key.workspace, run_id)
                view = await _in_store_pool(request, _run_view, store, run)
                yield sse_event("done", view.model_dump(mode="json"))
                return
            if loop.time() - quiet_since > SSE_KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                quiet_since = loop.time()
            await asyncio.sleep(SSE_POLL_SECONDS)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


@router.post(
    "/runs/{run_id}/cancel", response_model=EvalRun, responses=_ERRORS, summary="Cancel a run"
)
async def cancel_run(request: Request, run_id: str, key: Caller) -> EvalRun:
    """Stop a queued or running run: no new case starts; stored results stay. A finished
    run is returned unchanged."""
    store = _store(request)
    run = await _in_store_pool(request, store.cancel_run, key.workspace, run_id)
    return await _in_store_pool(request, _run_view, store, run)
