"""The client's evaluation methods: prompt versions, datasets, generated cases and runs.

``Client`` and ``AsyncClient`` (``promptmill.client``) inherit these from
``EvaluationMethods`` and ``AsyncEvaluationMethods``, which only build request bodies
and validate answers into the shared models of ``promptmill.eval_types``; the transport
(headers, retries, errors, Server-Sent Events) is the client's own. The endpoints are
promptmill extensions under ``/v1/promptmill/``: a promptmill server has them,
``api.anthropic.com`` does not.

A prompt can be given in any of the forms a user holds one in (``PromptInput``): the
result of ``generate_prompt``/``improve_prompt``/``templatize_prompt``, a saved
``PromptVersion``, ``"name"`` or ``"name@3"`` for a saved prompt, or the API's own
selector object. Graders are the API's objects or the shorthand of
``promptmill.grader_shorthand`` (``"exact"``, ``"regex:^\\d+$"``).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from promptmill.errors import APIConnectionError, APIError, InvalidRequestError
from promptmill.eval_types import (
    Dataset,
    DatasetList,
    DatasetListItem,
    EvalRun,
    EvalRunList,
    GenerateCasesResponse,
    PromptDiff,
    PromptList,
    PromptListItem,
    PromptVersion,
    PromptVersionList,
    RunProgress,
    RunResult,
    RunResultList,
    TestCase,
)
from promptmill.grader_shorthand import parse_grader
from promptmill.protocol import DATASETS_PATH, GENERATE_CASES_PATH, PROMPTS_PATH, RUNS_PATH
from promptmill.types import PromptMessage, PromptResult

PromptInput = str | PromptResult | PromptVersion | Mapping[str, Any]
"""A prompt: a tool's result, a saved version, ``"name"``/``"name@N"``, or a selector dict."""

GraderInput = str | Mapping[str, Any]
"""A grader: the API's object (``{"type": "regex", "pattern": ...}``) or its shorthand."""

CaseInput = TestCase | Mapping[str, Any]
"""A test case: a ``TestCase`` or its wire dict (``{"vars": {...}, "expected": ...}``)."""

RunProgressCallback = Callable[[RunProgress], None]
CaseFormat = Literal["csv", "jsonl"]

RESULTS_PAGE = 1000
"""Results asked for per request when reading a whole run (the server's page limit)."""

_SAVED_PROMPT = re.compile(r"^(?P<name>[^@\s]+)(?:@(?P<version>\d+))?$")
_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class EvalVariant:
    """One contestant of a run: a prompt, and optionally its label and the model to run it
    on (one prompt on two models is two variants with the same prompt)."""

    prompt: PromptInput
    label: str | None = None
    model: str | None = None


# --- request bodies (shared by both clients) ------------------------------------------


def parse_prompt_ref(text: str) -> tuple[str, int | None] | None:
    """``"chef"`` -> ``("chef", None)``, ``"chef@3"`` -> ``("chef", 3)``; None if neither."""
    match = _SAVED_PROMPT.match(text)
    if match is None:
        return None
    version = match.group("version")
    return match.group("name"), int(version) if version else None


def prompt_selector(prompt: PromptInput) -> dict[str, Any]:
    """The API's prompt object for any ``PromptInput``: by name (and version) or inline."""
    if isinstance(prompt, PromptVersion):
        return {"name": prompt.name, "version": prompt.number}
    if isinstance(prompt, PromptResult):
        return _inline(prompt.messages, prompt.system)
    if isinstance(prompt, str):
        ref = parse_prompt_ref(prompt)
        if ref is None:
            raise InvalidRequestError(
                f"prompt: {prompt!r} is not a saved prompt's 'name' or 'name@VERSION'"
            )
        name, version = ref
        return {"name": name} if version is None else {"name": name, "version": version}
    return dict(prompt)


def _inline(messages: Sequence[PromptMessage], system: str) -> dict[str, Any]:
    return {"messages": [m.model_dump(mode="json") for m in messages], "system": system}


def save_prompt_body(
    name: str,
    prompt: PromptResult | PromptVersion | str | Sequence[PromptMessage | Mapping[str, Any]],
    system: str | None,
) -> dict[str, Any]:
    """``{name, messages, system}`` from a tool's result, a version, a text or messages."""
    if isinstance(prompt, PromptResult | PromptVersion):
        body = _inline(prompt.messages, prompt.system)
    elif isinstance(prompt, str):
        body = _inline([PromptMessage.of("user", prompt)], "")
    else:
        body = {
            "messages": [
                m.model_dump(mode="json") if isinstance(m, PromptMessage) else dict(m)
                for m in prompt
            ],
            "system": "",
        }
    if system is not None:
        body["system"] = system
    return {"name": name, **body}


def _generate_cases_body(
    prompt: PromptInput, count: int, save_as: str | None, model: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": prompt_selector(prompt), "count": count}
    if save_as is not None:
        body["save_as"] = save_as
    if model is not None:
        body["model"] = model
    return body


def graders_body(graders: Sequence[GraderInput]) -> list[dict[str, Any]]:
    """Grader objects from objects or shorthands; a bad shorthand is a 400 naming its index."""
    specs = []
    for index, grader in enumerate(graders):
        if isinstance(grader, str):
            try:
                specs.append(parse_grader(grader))
            except ValueError as exc:
                raise InvalidRequestError(f"graders.{index}: {exc}") from None
        else:
            specs.append(dict(grader))
    return specs


def cases_body(cases: Sequence[CaseInput]) -> list[dict[str, Any]]:
    return [
        c.model_dump(mode="json", exclude_none=True) if isinstance(c, TestCase) else dict(c)
        for c in cases
    ]


def run_body(
    prompts: PromptInput | EvalVariant | Sequence[PromptInput | EvalVariant],
    *,
    cases: Sequence[CaseInput] | None,
    dataset: str | None,
    graders: Sequence[GraderInput],
    model: str | None,
    temperature: float,
    max_tokens: int,
    concurrency: int,
) -> dict[str, Any]:
    """The body of ``POST runs``; variant 0 is the baseline the others are compared with."""
    variants = []
    for item in _variant_list(prompts):
        variant = item if isinstance(item, EvalVariant) else EvalVariant(prompt=item)
        entry: dict[str, Any] = {"prompt": prompt_selector(variant.prompt)}
        if variant.label is not None:
            entry["label"] = variant.label
        if (variant.model or model) is not None:
            entry["model"] = variant.model or model
        variants.append(entry)
    body: dict[str, Any] = {
        "variants": variants,
        "graders": graders_body(graders),
        "temperature": temperature,
        "max_tokens": max_tokens,
        "concurrency": concurrency,
    }
    if cases is not None:
        body["cases"] = cases_body(cases)
    if dataset is not None:
        body["dataset"] = dataset
    return body


def _variant_list(
    prompts: PromptInput | EvalVariant | Sequence[PromptInput | EvalVariant],
) -> list[PromptInput | EvalVariant]:
    """One prompt or variant, or a sequence of them (a ``str`` is one prompt's name)."""
    if isinstance(prompts, str | PromptResult | PromptVersion | EvalVariant | Mapping):
        return [prompts]
    return list(prompts)


def _segment(value: str) -> str:
    """A name as one URL path segment (a name is never allowed to add path levels)."""
    return quote(value, safe="")


def _validate(model: type[_M], payload: Any) -> _M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise APIError(f"the response does not match {model.__name__}: {exc}") from exc


def _run_id(run: str | EvalRun) -> str:
    return run.id if isinstance(run, EvalRun) else run


class _RunFollower:
    """Applies a run's events: reports progress, keeps the final run."""

    def __init__(self, on_progress: RunProgressCallback | None) -> None:
        self.on_progress = on_progress
        self.run: EvalRun | None = None

    def apply(self, event: str, data: str) -> None:
        if event == "progress" and self.on_progress is not None:
            self.on_progress(_validate(RunProgress, _json(data)))
        elif event == "done":
            self.run = _validate(EvalRun, _json(data))


def _json(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise APIError(f"an event's data is not JSON: {data[:200]!r}") from exc


# --- the methods ----------------------------------------------------------------------


class EvaluationMethods:
    """Evaluation endpoints for the blocking ``Client`` (which provides the transport)."""

    max_reconnects = 5
    """How often ``wait_for_run`` reopens an event stream that ended early, in a row."""

    if TYPE_CHECKING:  # the transport, provided by ``Client``

        def _send(
            self,
            method: str,
            path: str,
            *,
            body: Mapping[str, Any] | None = None,
            params: Mapping[str, Any] | None = None,
            timeout: float | None = None,
            retry_timeouts: bool = True,
        ) -> Any: ...

        def _events(self, path: str) -> Iterator[tuple[str, str]]: ...

        def _pause(self, attempt: int) -> None: ...

    # prompts

    def save_prompt(
        self,
        name: str,
        prompt: PromptResult | PromptVersion | str | Sequence[PromptMessage | Mapping[str, Any]],
        system: str | None = None,
    ) -> PromptVersion:
        """Save a version of prompt ``name``: a tool's result as it is, a text (one user
        message) or messages. Content equal to the latest version returns that version."""
        body = save_prompt_body(name, prompt, system)
        return _validate(PromptVersion, self._send("POST", PROMPTS_PATH, body=body))

    def list_prompts(self) -> list[PromptListItem]:
        """The workspace's prompts, each with its latest version number."""
        return _validate(PromptList, self._send("GET", PROMPTS_PATH)).data

    def prompt_versions(self, name: str) -> list[PromptVersion]:
        """Every version of ``name``, oldest first."""
        path = f"{PROMPTS_PATH}/{_segment(name)}/versions"
        return _validate(PromptVersionList, self._send("GET", path)).data

    def prompt_version(self, name: str, number: int | None = None) -> PromptVersion:
        """Version ``number`` of ``name``; the latest when ``number`` is None."""
        if number is None:
            versions = self.prompt_versions(name)
            return versions[-1]
        path = f"{PROMPTS_PATH}/{_segment(name)}/versions/{number}"
        return _validate(PromptVersion, self._send("GET", path))

    def diff_prompt(
        self, name: str, from_version: int | None = None, to_version: int | None = None
    ) -> PromptDiff:
        """A unified diff between two versions (default: the latest and the one before)."""
        params = {k: v for k, v in (("from", from_version), ("to", to_version)) if v is not None}
        path = f"{PROMPTS_PATH}/{_segment(name)}/diff"
        return _validate(PromptDiff, self._send("GET", path, params=params))

    # datasets and cases

    def save_dataset(
        self,
        name: str,
        cases: Sequence[CaseInput] | None = None,
        *,
        content: str | None = None,
        format: CaseFormat | None = None,
    ) -> Dataset:
        """Create or replace dataset ``name`` from ``cases``, or from a CSV or JSONL text
        (``content`` with ``format`` ``"csv"`` or ``"jsonl"``), parsed by the server."""
        body: dict[str, Any] = {}
        if cases is not None:
            body["cases"] = cases_body(cases)
        if content is not None or format is not None:
            body.update(content=content, format=format)
        path = f"{DATASETS_PATH}/{_segment(name)}"
        return _validate(Dataset, self._send("PUT", path, body=body))

    def dataset(self, name: str) -> Dataset:
        return _validate(Dataset, self._send("GET", f"{DATASETS_PATH}/{_segment(name)}"))

    def list_datasets(self) -> list[DatasetListItem]:
        return _validate(DatasetList, self._send("GET", DATASETS_PATH)).data

    def generate_cases(
        self,
        prompt: PromptInput,
        count: int = 10,
        *,
        save_as: str | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> GenerateCasesResponse:
        """Have the model write ``count`` cases for the prompt's variables; ``save_as``
        also saves them as that dataset.

        Generation can take minutes on a small local model: ``timeout`` (seconds) replaces
        the client's for this call, and a timed-out call is not repeated, since the
        server goes on generating what was asked.
        """
        body = _generate_cases_body(prompt, count, save_as, model)
        payload = self._send(
            "POST", GENERATE_CASES_PATH, body=body, timeout=timeout, retry_timeouts=False
        )
        return _validate(GenerateCasesResponse, payload)

    # runs

    def create_run(
        self,
        prompts: PromptInput | EvalVariant | Sequence[PromptInput | EvalVariant],
        *,
        cases: Sequence[CaseInput] | None = None,
        dataset: str | None = None,
        graders: Sequence[GraderInput] = (),
        model: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        concurrency: int = 4,
    ) -> EvalRun:
        """Start a run of one or more prompts (the first is the baseline) on ``cases`` or a
        saved ``dataset``; it runs in the background (see ``wait_for_run``)."""
        body = run_body(
            prompts,
            cases=cases,
            dataset=dataset,
            graders=graders,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            concurrency=concurrency,
        )
        return _validate(EvalRun, self._send("POST", RUNS_PATH, body=body))

    def run(self, run: str | EvalRun) -> EvalRun:
        """The run's state now, with the summary and comparison of the results so far."""
        return _validate(EvalRun, self._send("GET", f"{RUNS_PATH}/{_segment(_run_id(run))}"))

    def list_runs(self, limit: int = 20) -> list[EvalRun]:
        """The workspace's runs, newest first."""
        return _validate(EvalRunList, self._send("GET", RUNS_PATH, params={"limit": limit})).data

    def run_results(
        self, run: str | EvalRun, *, offset: int = 0, limit: int | None = None
    ) -> list[RunResult]:
        """Results by case, then variant; all of them (page by page) unless ``limit``."""
        path = f"{RUNS_PATH}/{_segment(_run_id(run))}/results"
        results: list[RunResult] = []
        while limit is None or len(results) < limit:
            page_size = RESULTS_PAGE if limit is None else min(RESULTS_PAGE, limit - len(results))
            params = {"offset": offset + len(results), "limit": page_size}
            page = _validate(RunResultList, self._send("GET", path, params=params))
            results.extend(page.data)
            if not page.has_more or not page.data:
                break
        return results

    def wait_for_run(
        self, run: str | EvalRun, *, on_progress: RunProgressCallback | None = None
    ) -> EvalRun:
        """Follow the run's events until it is completed, cancelled or failed; return it.

        ``on_progress`` gets a ``RunProgress`` (done, total, status) whenever results
        arrive. A dropped stream is reopened (the run goes on on the server meanwhile),
        up to ``max_reconnects`` times in a row.
        """
        path = f"{RUNS_PATH}/{_segment(_run_id(run))}/events"
        follower = _RunFollower(on_progress)
        failures = 0
        while True:
            try:
                for event in self._events(path):
                    failures = 0
                    follower.apply(*event)
            except APIConnectionError:
                if failures >= self.max_reconnects:
                    raise
            else:
                if follower.run is not None:
                    return follower.run
                if failures >= self.max_reconnects:
                    raise APIConnectionError("the run's event stream ended before the run did")
            self._pause(failures)
            failures += 1

    def cancel_run(self, run: str | EvalRun) -> EvalRun:
        """Stop the run: no new case starts; results already stored stay."""
        path = f"{RUNS_PATH}/{_segment(_run_id(run))}/cancel"
        return _validate(EvalRun, self._send("POST", path, body={}))


class AsyncEvaluationMethods:
    """The asyncio twin of ``EvaluationMethods``, for ``AsyncClient``."""

    max_reconnects = 5

    if TYPE_CHECKING:  # the transport, provided by ``AsyncClient``

        async def _send(
            self,
            method: str,
            path: str,
            *,
            body: Mapping[str, Any] | None = None,
            params: Mapping[str, Any] | None = None,
            timeout: float | None = None,
            retry_timeouts: bool = True,
        ) -> Any: ...

        def _events(self, path: str) -> AsyncIterator[tuple[str, str]]: ...

        async def _pause(self, attempt: int) -> None: ...

    async def save_prompt(
        self,
        name: str,
        prompt: PromptResult | PromptVersion | str | Sequence[PromptMessage | Mapping[str, Any]],
        system: str | None = None,
    ) -> PromptVersion:
        body = save_prompt_body(name, prompt, system)
        return _validate(PromptVersion, await self._send("POST", PROMPTS_PATH, body=body))

    async def list_prompts(self) -> list[PromptListItem]:
        return _validate(PromptList, await self._send("GET", PROMPTS_PATH)).data

    async def prompt_versions(self, name: str) -> list[PromptVersion]:
        path = f"{PROMPTS_PATH}/{_segment(name)}/versions"
        return _validate(PromptVersionList, await self._send("GET", path)).data

    async def prompt_version(self, name: str, number: int | None = None) -> PromptVersion:
        if number is None:
            versions = await self.prompt_versions(name)
            return versions[-1]
        path = f"{PROMPTS_PATH}/{_segment(name)}/versions/{number}"
        return _validate(PromptVersion, await self._send("GET", path))

    async def diff_prompt(
        self, name: str, from_version: int | None = None, to_version: int | None = None
    ) -> PromptDiff:
        params = {k: v for k, v in (("from", from_version), ("to", to_version)) if v is not None}
        path = f"{PROMPTS_PATH}/{_segment(name)}/diff"
        return _validate(PromptDiff, await self._send("GET", path, params=params))

    async def save_dataset(
        self,
        name: str,
        cases: Sequence[CaseInput] | None = None,
        *,
        content: str | None = None,
        format: CaseFormat | None = None,
    ) -> Dataset:
        body: dict[str, Any] = {}
        if cases is not None:
            body["cases"] = cases_body(cases)
        if content is not None or format is not None:
            body.update(content=content, format=format)
        path = f"{DATASETS_PATH}/{_segment(name)}"
        return _validate(Dataset, await self._send("PUT", path, body=body))

    async def dataset(self, name: str) -> Dataset:
        return _validate(Dataset, await self._send("GET", f"{DATASETS_PATH}/{_segment(name)}"))

    async def list_datasets(self) -> list[DatasetListItem]:
        return _validate(DatasetList, await self._send("GET", DATASETS_PATH)).data

    async def generate_cases(
        self,
        prompt: PromptInput,
        count: int = 10,
        *,
        save_as: str | None = None,
        model: str | None = None,
        timeout: float | None = None,
    ) -> GenerateCasesResponse:
        body = _generate_cases_body(prompt, count, save_as, model)
        payload = await self._send(
            "POST", GENERATE_CASES_PATH, body=body, timeout=timeout, retry_timeouts=False
        )
        return _validate(GenerateCasesResponse, payload)

    async def create_run(
        self,
        prompts: PromptInput | EvalVariant | Sequence[PromptInput | EvalVariant],
        *,
        cases: Sequence[CaseInput] | None = None,
        dataset: str | None = None,
        graders: Sequence[GraderInput] = (),
        model: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        concurrency: int = 4,
    ) -> EvalRun:
        body = run_body(
            prompts,
            cases=cases,
            dataset=dataset,
            graders=graders,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            concurrency=concurrency,
        )
        return _validate(EvalRun, await self._send("POST", RUNS_PATH, body=body))

    async def run(self, run: str | EvalRun) -> EvalRun:
        path = f"{RUNS_PATH}/{_segment(_run_id(run))}"
        return _validate(EvalRun, await self._send("GET", path))

    async def list_runs(self, limit: int = 20) -> list[EvalRun]:
        payload = await self._send("GET", RUNS_PATH, params={"limit": limit})
        return _validate(EvalRunList, payload).data

    async def run_results(
        self, run: str | EvalRun, *, offset: int = 0, limit: int | None = None
    ) -> list[RunResult]:
        path = f"{RUNS_PATH}/{_segment(_run_id(run))}/results"
        results: list[RunResult] = []
        while limit is None or len(results) < limit:
            page_size = RESULTS_PAGE if limit is None else min(RESULTS_PAGE, limit - len(results))
            params = {"offset": offset + len(results), "limit": page_size}
            page = _validate(RunResultList, await self._send("GET", path, params=params))
            results.extend(page.data)
            if not page.has_more or not page.data:
                break
        return results

    async def wait_for_run(
        self, run: str | EvalRun, *, on_progress: RunProgressCallback | None = None
    ) -> EvalRun:
        path = f"{RUNS_PATH}/{_segment(_run_id(run))}/events"
        follower = _RunFollower(on_progress)
        failures = 0
        while True:
            try:
                async for event in self._events(path):
                    failures = 0
                    follower.apply(*event)
            except APIConnectionError:
                if failures >= self.max_reconnects:
                    raise
            else:
                if follower.run is not None:
                    return follower.run
                if failures >= self.max_reconnects:
                    raise APIConnectionError("the run's event stream ended before the run did")
            await self._pause(failures)
            failures += 1

    async def cancel_run(self, run: str | EvalRun) -> EvalRun:
        path = f"{RUNS_PATH}/{_segment(_run_id(run))}/cancel"
        return _validate(EvalRun, await self._send("POST", path, body={}))
