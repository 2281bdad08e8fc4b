"""The ``promptmill`` command line: thin commands that delegate to the package.

Sections (each command a short function that calls into the package):
- server:   ``serve``
- keys:     ``keys create|list|revoke``, ``usage``
- prompts:  ``generate``, ``improve``, ``templatize``, ``optimize``
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import click

from promptmill import __version__
from promptmill.backends.registry import BACKENDS, backend_names
from promptmill.protocol import GENERATE_PATH, IMPROVE_PATH, OPTIMIZE_PATH, TEMPLATIZE_PATH


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="promptmill")
def main() -> None:
    """promptmill: an open, self-hosted Prompt Tools API (generate, improve, templatize)."""


@contextmanager
def _needs_extra(extra: str) -> Iterator[None]:
    """Report a missing optional dependency as the extra that installs it, not a traceback.

    Wraps the imports a command needs beyond the core install (``promptmill[server]``
    for the server, the store and the in-process engine).
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] == "promptmill":
            raise
        command = click.get_current_context().command_path
        raise click.ClickException(
            f"`{command}` needs promptmill's [{extra}] extra (the module {exc.name!r} is "
            f"missing): pip install 'promptmill[{extra}]'"
        ) from None


# --- server -----------------------------------------------------------------


_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


@main.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Keep the loopback default unless a proxy fronts the server.",
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 picks a free one (the URL printed shows which).",
)
@click.option(
    "--backend",
    type=click.Choice(backend_names()),
    default=None,
    help="The model backend; overrides PROMPTMILL_BACKEND (default: local, the embedded model). "
    + "; ".join(f"{entry.name}: {entry.summary}" for entry in BACKENDS.values())
    + ".",
)
@click.option(
    "--log-level",
    type=click.Choice(_LOG_LEVELS),
    default="info",
    show_default=True,
    help="Server log verbosity. API keys are never logged.",
)
def serve(host: str, port: int, backend: str | None, log_level: str) -> None:
    """Serve the Prompt Tools API over HTTP until Ctrl-C.

    Clients written for api.anthropic.com work by changing the base URL to the one printed
    and using a promptmill key (`promptmill keys create`). The model is loaded once, before
    the server accepts requests. Settings come from PROMPTMILL_* environment variables;
    a wrong or missing one stops the command before it listens, naming the setting.
    """
    import socket

    with _needs_extra("server"):
        import uvicorn

        from promptmill.api.app import create_app
        from promptmill.config import Settings
        from promptmill.store import Store
    from promptmill.errors import ConfigurationError, PromptmillError
    from promptmill.startup import build_engine

    try:
        settings = Settings.load(**({"backend": backend} if backend else {}))
        click.echo(f"Loading the {settings.backend} backend...", err=True)
        engine = build_engine(settings)
    except ConfigurationError as exc:
        raise click.ClickException(f"misconfigured: {exc.message}") from None
    except PromptmillError as exc:
        raise click.ClickException(
            f"could not start the {settings.backend} backend: {exc}"
        ) from None
    store = Store.open(settings.resolved_database_url)
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        shown_host = f"[{host}]" if ":" in host else host
        click.echo(
            f"promptmill {__version__} serving on http://{shown_host}:{sock.getsockname()[1]}"
        )
        click.echo(f"backend: {engine.backend.name}, model: {engine.backend.model}")
        if not any(not key.revoked for key in store.list_keys()):
            click.echo("No API key yet: create one with `promptmill keys create`.")
        app = create_app(settings, engine=engine, store=store)
        server = uvicorn.Server(uvicorn.Config(app, log_level=log_level))
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass  # uvicorn already shut down gracefully; it re-raises the signal for us
        finally:
            sock.close()
    finally:
        store.close()


# --- keys and usage -----------------------------------------------------------

# Store imports are local to the commands, like the others: SQLAlchemy and Alembic load
# only when a command needs the database.


def _open_store() -> Any:
    """The store at ``Settings().resolved_database_url`` (PROMPTMILL_DATABASE_URL/HOME)."""
    with _needs_extra("server"):
        from promptmill.config import Settings
        from promptmill.store import Store
    from promptmill.errors import ConfigurationError

    try:
        settings = Settings.load()
    except ConfigurationError as exc:
        raise click.ClickException(f"misconfigured: {exc.message}") from None
    return Store.open(settings.resolved_database_url)


def _format_table(headers: list[str], rows: list[list[str]]) -> str:
    """Plain aligned columns: ids stay whole and copyable at any terminal width."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


@main.group()
def keys() -> None:
    """Create, list and revoke API keys.

    Keys are sent in the x-api-key header and belong to a workspace, which groups their
    usage and history. The database is PROMPTMILL_DATABASE_URL, by default the SQLite
    file promptmill.db under PROMPTMILL_HOME (~/.promptmill).
    """


@keys.command("create")
@click.option(
    "--workspace",
    default="default",
    show_default=True,
    help="The workspace the key belongs to; created if it does not exist yet.",
)
@click.option("--name", default=None, help="A label to tell keys apart, e.g. 'ci' or 'laptop'.")
def keys_create(workspace: str, name: str | None) -> None:
    """Create a key and print its secret, once.

    The secret is the last line of the output, so scripts can capture it with
    `promptmill keys create | tail -n 1`. Only its hash is stored: copy it now.
    """
    from promptmill.errors import PromptmillError

    with _open_store() as store:
        try:
            info, secret = store.create_key(workspace=workspace, name=name)
        except PromptmillError as error:
            raise click.ClickException(error.message) from None
    label = f" ({info.name})" if info.name else ""
    click.echo(f"Created key {info.id}{label} in workspace {info.workspace!r}.")
    click.echo("Its secret is shown only this once:")
    click.echo(secret)


@keys.command("list")
@click.option("--workspace", default=None, help="Only the keys of this workspace.")
def keys_list(workspace: str | None) -> None:
    """List keys, never their secrets.

    Columns: id, workspace, name, prefix (the first characters of the secret, to
    recognise it), created and revoked times in UTC.
    """
    with _open_store() as store:
        infos = store.list_keys(workspace=workspace)
    if not infos:
        click.echo("No keys yet. Create one with: promptmill keys create")
        return

    def when(moment: Any) -> str:
        return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "-"

    rows = [
        [k.id, k.workspace, k.name or "-", k.prefix + "…", when(k.created_at), when(k.revoked_at)]
        for k in infos
    ]
    headers = ["id", "workspace", "name", "prefix", "created (UTC)", "revoked (UTC)"]
    click.echo(_format_table(headers, rows))


@keys.command("revoke")
@click.argument("key_id", metavar="ID")
def keys_revoke(key_id: str) -> None:
    """Revoke the key ID at once.

    The key is refused from the next request on. IDs are shown by `promptmill keys list`.
    """
    from promptmill.errors import NotFoundError

    with _open_store() as store:
        try:
            info = store.revoke_key(key_id)
        except NotFoundError:
            raise click.ClickException(
                f"no API key with id {key_id!r}; see `promptmill keys list`"
            ) from None
    click.echo(f"Revoked key {info.id} in workspace {info.workspace!r}.")


@main.command()
@click.option("--workspace", default=None, help="Only this workspace.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, for scripts.")
def usage(workspace: str | None, as_json: bool) -> None:
    """Show calls, errors, tokens and latency per workspace.

    Also counts the calls per endpoint. Errors are calls answered with an HTTP status
    of 400 or more; latency is the mean and the median (p50) in milliseconds.
    """
    import json

    with _open_store() as store:
        totals = store.usage_totals(workspace=workspace)
    if as_json:
        click.echo(json.dumps([t.to_dict() for t in totals], indent=2))
        return
    if not totals:
        click.echo(f"No workspace named {workspace!r}." if workspace else "No workspaces yet.")
        return

    def ms(value: float | None) -> str:
        return f"{value:.0f}" if value is not None else "-"

    rows = [
        [
            t.workspace,
            str(t.calls),
            str(t.errors),
            str(t.input_tokens),
            str(t.output_tokens),
            ms(t.mean_latency_ms),
            ms(t.p50_latency_ms),
            ", ".join(f"{name}={count}" for name, count in t.by_endpoint.items()) or "-",
        ]
        for t in totals
    ]
    headers = ["workspace", "calls", "errors", "input tok", "output tok", "mean ms", "p50 ms"]
    click.echo(_format_table([*headers, "by endpoint"], rows))


# --- prompts --------------------------------------------------------------------

# Imports here are local to the commands: ``promptmill --help`` and ``serve`` should not
# pay for httpx, rich and the engine, and a command only loads what it uses.

_VARIABLE_PATTERN = r"\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}"


def _prompt_tool_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options every prompt command shares: where to send it and how to print it."""
    options = [
        click.option(
            "--base-url",
            envvar="PROMPTMILL_BASE_URL",
            default="http://127.0.0.1:8000",
            show_default=True,
            help="The server to call (also PROMPTMILL_BASE_URL). "
            "https://api.anthropic.com works too: it is the same API.",
        ),
        click.option(
            "--api-key",
            default=None,
            help="The API key to send; default: PROMPTMILL_API_KEY, then ANTHROPIC_API_KEY.",
        ),
        click.option(
            "--in-process",
            is_flag=True,
            help="Run the engine here, with the backend PROMPTMILL_* configures, no server needed.",
        ),
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            help="Print only the API response JSON on stdout (for scripts and pipes).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _read_prompt_file(source: TextIO) -> str:
    """The prompt text of FILE; the one newline that editors add at the end is not part of it."""
    return source.read().removesuffix("\n")


def _run_prompt_tool(
    *,
    path: str,
    body: dict[str, Any],
    base_url: str,
    api_key: str | None,
    in_process: bool,
    as_json: bool,
    run_engine: Callable[[Any, Callable[[Any], None]], Any],
    show: Callable[[dict[str, Any], float], None] | None = None,
) -> None:
    """Call one tool (server or in-process), show progress on stderr, print the answer.

    ``run_engine(engine, on_progress)`` is the in-process twin of POSTing ``body`` to
    ``path``. Any API error ends the command with exit code 1 and ``error: TYPE: MESSAGE``.
    """
    import json
    import time
    from urllib.parse import urlsplit

    from rich.console import Console

    from promptmill.errors import PromptmillError

    err_console = Console(stderr=True)
    started = time.monotonic()
    try:
        with err_console.status("[bold]Working…", spinner="dots") as status:

            def on_progress(progress: Any) -> None:
                attempt = f" (attempt {progress.attempt})" if progress.attempt > 1 else ""
                budget = getattr(progress, "budget", 0)
                spent = f"  [dim]{progress.calls}/{budget} calls[/]" if budget else ""
                status.update(f"[bold]{progress.stage}[/]: {progress.message}{attempt}{spent}")

            if in_process:
                response = _run_in_process(run_engine, on_progress)
            else:
                from promptmill.client import Client

                host = urlsplit(base_url).hostname or ""
                # Anthropic's own API has no progress stream: ask it for plain JSON only.
                streams = not host.endswith("anthropic.com")
                with Client(base_url=base_url, api_key=api_key) as client:
                    response = client.post(path, body, on_progress=on_progress if streams else None)
    except PromptmillError as error:
        click.echo(f"error: {error.error_type}: {error.message}", err=True)
        raise SystemExit(1) from None
    latency = time.monotonic() - started
    if as_json:
        click.echo(json.dumps(response, indent=2, ensure_ascii=False))
    else:
        (show or _print_prompt_response)(response, latency)


def _run_in_process(
    run_engine: Callable[[Any, Callable[[Any], None]], Any], on_progress: Callable[[Any], None]
) -> Any:
    with _needs_extra("server"):
        from promptmill.config import Settings
    from promptmill.startup import build_engine

    engine = build_engine(Settings.load())
    return run_engine(engine, on_progress).model_dump(mode="json")


def _print_prompt_response(response: dict[str, Any], latency: float) -> None:
    """The human view: prompt with variables highlighted, prefill apart, values, usage."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()

    def section(title: str, text: str) -> None:
        console.rule(f"[bold]{title}", align="left", style="dim")
        body = Text(text)
        body.highlight_regex(_VARIABLE_PATTERN, style="bold magenta")
        console.print(body, soft_wrap=True)

    if response.get("system"):
        section("system", response["system"])
    for message in response.get("messages", []):
        text = "".join(block.get("text", "") for block in message.get("content", []))
        section("prompt" if message.get("role") == "user" else "prefill (assistant)", text)
    values = response.get("variable_values")
    if values:
        console.rule("[bold]variable values", align="left", style="dim")
        table = Table(show_edge=False, header_style="bold")
        table.add_column("variable", style="magenta", no_wrap=True)
        table.add_column("value", overflow="fold")
        for name, value in values.items():
            table.add_row(f"{{{{{name}}}}}", value)
        console.print(table)
    usage = response.get("usage", [])
    total_in = sum(u.get("input_tokens", 0) for u in usage)
    total_out = sum(u.get("output_tokens", 0) for u in usage)
    calls = ", ".join(f"{u.get('input_tokens', 0)}→{u.get('output_tokens', 0)}" for u in usage)
    console.rule(style="dim")
    console.print(
        f"[dim]usage:[/] {len(usage)} model call{'s' if len(usage) != 1 else ''} "
        f"({calls}), {total_in} input + {total_out} output tokens   "
        f"[dim]latency:[/] {latency:.2f} s",
        highlight=False,
    )


@main.command()
@click.argument("task")
@click.option("--target-model", default=None, help="The model the prompt will be used with.")
@_prompt_tool_options
def generate(
    task: str,
    target_model: str | None,
    base_url: str,
    api_key: str | None,
    in_process: bool,
    as_json: bool,
) -> None:
    """Write a prompt template for TASK.

    TASK says what the prompt should do or which role it sets up, for example
    "a chef for a meal prep planning service". The answer is a user message holding
    the prompt (variables written {{LIKE_THIS}}) and often an assistant prefill.
    """
    body: dict[str, Any] = {"task": task}
    if target_model is not None:
        body["target_model"] = target_model
    _run_prompt_tool(
        path=GENERATE_PATH,
        body=body,
        base_url=base_url,
        api_key=api_key,
        in_process=in_process,
        as_json=as_json,
        run_engine=lambda engine, on_progress: engine.generate(
            task, target_model, on_progress=on_progress
        ),
    )


@main.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--feedback", default=None, help="What to change, e.g. 'Make it more concise'.")
@click.option("--system", default=None, help="The prompt's existing system prompt.")
@click.option("--target-model", default=None, help="The model the prompt will be used with.")
@_prompt_tool_options
def improve(
    file: TextIO,
    feedback: str | None,
    system: str | None,
    target_model: str | None,
    base_url: str,
    api_key: str | None,
    in_process: bool,
    as_json: bool,
) -> None:
    """Improve the prompt in FILE (use - for stdin).

    The whole file becomes one user message. Without --feedback the prompt is improved
    by general best practice; {{VARIABLES}} in it survive.
    """
    from promptmill.types import PromptMessage

    text = _read_prompt_file(file)
    message = PromptMessage.of("user", text)
    body: dict[str, Any] = {"messages": [message.model_dump(mode="json")]}
    for key, value in (("system", system), ("feedback", feedback), ("target_model", target_model)):
        if value is not None:
            body[key] = value
    _run_prompt_tool(
        path=IMPROVE_PATH,
        body=body,
        base_url=base_url,
        api_key=api_key,
        in_process=in_process,
        as_json=as_json,
        run_engine=lambda engine, on_progress: engine.improve(
            [message], system or "", feedback, target_model, on_progress=on_progress
        ),
    )


@main.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--system", default=None, help="The prompt's system prompt, templatized too.")
@_prompt_tool_options
def templatize(
    file: TextIO,
    system: str | None,
    base_url: str,
    api_key: str | None,
    in_process: bool,
    as_json: bool,
) -> None:
    """Turn the concrete values in the prompt in FILE (use - for stdin) into {{VARIABLES}}.

    Prints the template and the value each variable replaced; substituting the values
    back gives the original prompt, character for character.
    """
    from promptmill.types import PromptMessage

    message = PromptMessage.of("user", _read_prompt_file(file))
    body: dict[str, Any] = {"messages": [message.model_dump(mode="json")]}
    if system is not None:
        body["system"] = system
    _run_prompt_tool(
        path=TEMPLATIZE_PATH,
        body=body,
        base_url=base_url,
        api_key=api_key,
        in_process=in_process,
        as_json=as_json,
        run_engine=lambda engine, on_progress: engine.templatize(
            [message], system or "", on_progress=on_progress
        ),
    )


# --- optimize -------------------------------------------------------------------


def _grader_spec(text: str) -> dict[str, Any]:
    """The grader object a ``--grader`` shorthand stands for (the syntax of ``eval``).

    ``exact[:VALUE]``, ``contains[:VALUE]``, ``regex:PATTERN``, ``json[:SCHEMA]`` (inline
    JSON or a file), ``numeric[:TOLERANCE]``, ``rubric[:TEXT]``; without a value the
    case's ``expected`` (or, for the rubric, its notes) is used. Only the shape is
    checked here; the server (or the in-process engine) checks the value and names the
    field when it is wrong.
    """
    import json
    from pathlib import Path

    fields = {
        "exact": "value",
        "contains": "value",
        "regex": "pattern",
        "json": "schema",
        "numeric": "tolerance",
        "rubric": "rubric",
    }
    kind, colon, value = text.partition(":")
    kind = kind.strip()
    if kind not in fields:
        raise click.BadParameter(
            f"unknown grader {kind!r}; choose one of {', '.join(fields)} "
            "(exact[:VALUE], contains[:VALUE], regex:PATTERN, json[:SCHEMA], "
            "numeric[:TOLERANCE], rubric[:TEXT])",
            param_hint="--grader",
        )
    spec: dict[str, Any] = {"type": kind}
    if not (colon and value):
        if colon or kind == "regex":
            raise click.BadParameter(f"{kind}: a value is needed after ':'", param_hint="--grader")
        return spec
    try:
        if kind == "numeric":
            spec["tolerance"] = float(value)
        elif kind == "json":
            source = value if value.lstrip().startswith("{") else Path(value).read_text()
            spec["schema"] = json.loads(source)
        else:
            spec[fields[kind]] = value
    except (ValueError, OSError) as exc:
        raise click.BadParameter(f"{kind}: {exc}", param_hint="--grader") from None
    return spec


def _read_prompt_argument(source: TextIO) -> dict[str, Any]:
    """PROMPT: the JSON a prompt tool answered (``messages`` and ``system``), or plain text
    that becomes one user message."""
    import json

    from promptmill.types import PromptMessage

    text = _read_prompt_file(source)
    try:
        loaded = json.loads(text)
    except ValueError:
        loaded = None
    if isinstance(loaded, dict) and isinstance(loaded.get("messages"), list):
        return {"messages": loaded["messages"], "system": loaded.get("system") or ""}
    return {"messages": [PromptMessage.of("user", text).model_dump(mode="json")], "system": ""}


def _read_cases_file(path: str) -> list[Any]:
    """The cases of a ``.csv`` or ``.jsonl`` file (``expected`` and ``notes`` are reserved)."""
    from pathlib import Path

    from promptmill.engine.cases import read_cases
    from promptmill.errors import InvalidRequestError

    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise click.BadParameter(
            f"{path}: the cases must be a .csv or .jsonl file", param_hint="--cases"
        )
    try:
        text = Path(path).read_text(encoding="utf-8")
        return read_cases(text, "csv" if suffix == ".csv" else "jsonl")
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror}", param_hint="--cases") from None
    except InvalidRequestError as exc:
        raise click.BadParameter(f"{path}: {exc.message}", param_hint="--cases") from None


def _print_optimize_response(response: dict[str, Any], latency: float) -> None:
    """The human view: the candidates' scores, the chosen prompt, held-out scores, cost."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()

    def score(split: dict[str, Any] | None) -> str:
        if not split or split.get("score") is None:
            return "-"
        return f"{split['score']:.3f} ({split['passed']}/{split['cases']})"

    table = Table(title="candidates (training cases)", header_style="bold", show_edge=False)
    for column in ("candidate", "score", "original", "gain", "calls"):
        table.add_column(column, justify="left" if column == "candidate" else "right")
    for candidate in response.get("candidates", []):
        chosen = candidate["label"] == response.get("label")
        gain = candidate.get("gain")
        table.add_row(
            ("* " if chosen else "  ") + candidate["label"],
            score(candidate.get("train")) if not candidate.get("error") else "failed",
            score(candidate.get("original_train")),
            "-" if gain is None else f"{gain:+.3f}",
            str(candidate["proposal_calls"] + candidate["evaluation_calls"]),
        )
    console.print(table)
    for candidate in response.get("candidates", []):
        if candidate.get("error"):
            console.print(f"[dim]{candidate['label']}: {candidate['error']}[/]", highlight=False)
    prompt = response["prompt"]
    if prompt.get("system"):
        console.rule("[bold]system", align="left", style="dim")
        console.print(prompt["system"], soft_wrap=True, highlight=False)
    for message in prompt.get("messages", []):
        text = "".join(block.get("text", "") for block in message.get("content", []))
        title = "prompt" if message.get("role") == "user" else "prefill (assistant)"
        console.rule(f"[bold]{title}: {response['label']}", align="left", style="dim")
        body = Text(text)
        body.highlight_regex(_VARIABLE_PATTERN, style="bold magenta")
        console.print(body, soft_wrap=True)
    console.rule(style="dim")
    console.print(
        f"[dim]training:[/] {score(response['train'])} vs original "
        f"{score(response['original_train'])}   [dim]held out:[/] {score(response['held_out'])} "
        f"vs original {score(response['original_held_out'])}\n"
        f"[dim]cost:[/] {response['calls']} of {response['budget']} model calls "
        f"({response['stopped']})   [dim]latency:[/] {latency:.1f} s",
        highlight=False,
    )


@main.command()
@click.argument("prompt", type=click.File("r", encoding="utf-8"))
@click.option(
    "--cases",
    "cases_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Labelled cases, .csv or .jsonl: a column per variable, plus `expected` and `notes`.",
)
@click.option(
    "--grader",
    "graders",
    required=True,
    multiple=True,
    help="How an output is judged, repeatable: exact[:VALUE], contains[:VALUE], "
    "regex:PATTERN, json[:SCHEMA], numeric[:TOLERANCE], rubric[:TEXT]. Without a value "
    "the case's `expected` is used.",
)
@click.option(
    "--budget",
    type=click.IntRange(1),
    default=None,
    help="The most model calls to spend (proposals, evaluations, judges); server default 100.",
)
@click.option(
    "--held-out",
    "held_out_fraction",
    type=click.FloatRange(0.0, 0.9),
    default=None,
    help="Share of the cases held out to score the result on (default 0.25).",
)
@click.option("--seed", type=int, default=None, help="Seeds the split and the examples chosen.")
@click.option("--target-model", default=None, help="The model the prompt will be used with.")
@_prompt_tool_options
def optimize(
    prompt: TextIO,
    cases_path: str,
    graders: tuple[str, ...],
    budget: int | None,
    held_out_fraction: float | None,
    seed: int | None,
    target_model: str | None,
    base_url: str,
    api_key: str | None,
    in_process: bool,
    as_json: bool,
) -> None:
    """Optimize the prompt in PROMPT (a file, - for stdin) on labelled cases.

    PROMPT is plain text (one user message) or the JSON a prompt tool answered. The
    cases are split into training and held-out cases; candidates (few-shot examples
    from the training cases, an improvement written from the failures, with and
    without reasoning) are scored on the training cases, and the best is printed with
    its scores beside the original's. The result never scores below the original on
    the training cases.
    """
    specs = [_grader_spec(text) for text in graders]
    cases = _read_cases_file(cases_path)
    body: dict[str, Any] = {
        "prompt": _read_prompt_argument(prompt),
        "cases": [case.model_dump(exclude_none=True) for case in cases],
        "graders": specs,
    }
    options: dict[str, Any] = {
        "budget": budget,
        "held_out_fraction": held_out_fraction,
        "seed": seed,
        "target_model": target_model,
    }
    body.update({name: value for name, value in options.items() if value is not None})

    def run_engine(engine: Any, on_progress: Callable[[Any], None]) -> Any:
        from promptmill.engine.optimize import PromptOptimizer
        from promptmill.engine.versions import PromptTemplate

        optimizer = PromptOptimizer(engine.backend, timeout=engine.request_timeout)
        return optimizer.optimize(
            cases,
            specs,
            prompt=PromptTemplate.model_validate(body["prompt"]),
            on_progress=on_progress,
            **{name: value for name, value in options.items() if value is not None},
        )

    _run_prompt_tool(
        path=OPTIMIZE_PATH,
        body=body,
        base_url=base_url,
        api_key=api_key,
        in_process=in_process,
        as_json=as_json,
        run_engine=run_engine,
        show=_print_optimize_response,
    )
