"""The ``promptmill`` command line: thin commands that delegate to the package.

Sections (each command a short function that calls into the package):
- server:   ``serve``, ``worker``
- keys:     ``keys create|list|revoke``, ``usage``
- prompts:  ``generate``, ``improve``, ``templatize`` (``--save NAME`` keeps the result)
- versions: ``prompts save|list|show|diff``
- evaluation: ``cases generate``, ``eval``
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

import click

from promptmill import __version__
from promptmill.backends.registry import BACKENDS, backend_names
from promptmill.protocol import (
    GENERATE_PATH,
    IMPROVE_PATH,
    OPTIMIZE_PATH,
    SEPARATE_SYSTEM_HEADER,
    TEMPLATIZE_PATH,
)

if TYPE_CHECKING:
    from promptmill.client import Client
    from promptmill.eval_types import EvalRun, PairedTest, RunResult, VariantSummary


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="promptmill")
def main() -> None:
    """promptmill: an open, self-hosted Prompt Tools API (generate, improve, templatize),
    with prompt versions and evaluation (prompts, cases, eval)."""


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
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes sharing the port. Each builds its own engine and runs "
    "PROMPTMILL_EVAL_WORKERS evaluation threads; keys, usage, history, the rate limit and "
    "the evaluation queue are shared through the database (or PROMPTMILL_REDIS_URL). "
    "Meant for remote backends: with the local one, every process loads the model.",
)
def serve(host: str, port: int, backend: str | None, log_level: str, workers: int) -> None:
    """Serve the Prompt Tools API over HTTP until Ctrl-C.

    Clients written for api.anthropic.com work by changing the base URL to the one printed
    and using a promptmill key (`promptmill keys create`). The model is loaded once, before
    the server accepts requests. Settings come from PROMPTMILL_* environment variables;
    a wrong or missing one stops the command before it listens, naming the setting (with
    --workers above 1 too: the backend and the rate limit's storage are checked here
    first, then each process builds its own).
    """
    import os
    import socket

    with _needs_extra("server"):
        import uvicorn

        from promptmill.api.app import create_app
        from promptmill.api.rate_limit import make_rate_limits
        from promptmill.api.request_limits import uvicorn_options
        from promptmill.config import Settings
        from promptmill.store import Store
    from promptmill.errors import ConfigurationError, PromptmillError
    from promptmill.startup import build_engine, freeze_startup_heap

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
        try:
            make_rate_limits(settings, store)
        except ConfigurationError as exc:
            raise click.ClickException(f"misconfigured: {exc.message}") from None
        if workers > 1 and store.in_memory:
            raise click.ClickException(
                "misconfigured: PROMPTMILL_DATABASE_URL: --workers above 1 needs a database "
                "the processes share; an in-memory one is private to each process"
            )
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit it. asyncio sets it only on sockets made with proto
        # IPPROTO_TCP, which this one is not: without it each keep-alive answer waited
        # ~40 ms for the client's delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
        if workers > 1:
            threads = settings.eval_workers
            click.echo(
                f"{workers} worker processes; evaluation: {threads} threads in each "
                f"({workers * threads} in all)"
            )
            if backend:  # the processes read their settings from the environment
                os.environ["PROMPTMILL_BACKEND"] = backend
            del engine  # each process builds its own
            store.close()
            _serve_processes(workers, sock, log_level, settings)
            return
        app = create_app(settings, engine=engine, store=store)
        server = uvicorn.Server(
            uvicorn.Config(app, log_level=log_level, **uvicorn_options(settings))
        )
        freeze_startup_heap()
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass  # uvicorn already shut down gracefully; it re-raises the signal for us
        finally:
            sock.close()
    finally:
        store.close()


def _serve_processes(workers: int, sock: Any, log_level: str, settings: Any) -> None:
    """Run ``workers`` uvicorn processes on the bound socket until a signal stops them.

    uvicorn's supervisor spawns fresh interpreters that import the app factory by name
    (``app_from_environment``), forwards SIGINT/SIGTERM to them (each shuts down
    gracefully) and restarts one that dies.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from promptmill.api.app import APP_FACTORY
    from promptmill.api.request_limits import uvicorn_options

    config = uvicorn.Config(
        APP_FACTORY,
        factory=True,
        workers=workers,
        log_level=log_level,
        **uvicorn_options(settings, worker_processes=True),
    )
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()


@main.command()
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker threads, each evaluating one chunk of a run at a time "
    "[default: PROMPTMILL_EVAL_WORKERS, or 2 when that is 0].",
)
@click.option(
    "--backend",
    type=click.Choice(backend_names()),
    default=None,
    help="The model backend; overrides PROMPTMILL_BACKEND.",
)
def worker(workers: int | None, backend: str | None) -> None:
    """Evaluate runs from the shared queue until Ctrl-C, without serving HTTP.

    Servers enqueue evaluation runs; workers (and servers with PROMPTMILL_EVAL_WORKERS
    above 0) evaluate them. Start workers on any machine that reaches the same queue:
    the PostgreSQL database of PROMPTMILL_DATABASE_URL, a Redis server given as
    PROMPTMILL_REDIS_URL, or, with the default SQLite store, PROMPTMILL_HOME on this
    machine. Runs left unfinished by a stopped process are picked up at start.
    """
    import signal
    import threading

    with _needs_extra("server"):
        from promptmill.config import Settings
        from promptmill.jobs import EvalJobs
        from promptmill.store import Store
    from promptmill.errors import ConfigurationError, PromptmillError
    from promptmill.startup import build_engine

    try:
        settings = Settings.load(**({"backend": backend} if backend else {}))
        model_backend = build_engine(settings).backend
    except ConfigurationError as exc:
        raise click.ClickException(f"misconfigured: {exc.message}") from None
    except PromptmillError as exc:
        raise click.ClickException(f"could not start the worker: {exc}") from None
    threads = workers or settings.eval_workers or 2
    store = Store.open(settings.resolved_database_url)
    try:
        try:
            jobs = EvalJobs.from_settings(settings, store, model_backend)
        except PromptmillError as exc:
            raise click.ClickException(f"could not start the worker: {exc}") from None
        resumed = jobs.resume_unfinished()
        jobs.start_workers(threads)
        click.echo(
            f"promptmill {__version__} worker: {threads} threads on the "
            f"{type(jobs.huey).__name__} queue; backend: {model_backend.name}, "
            f"model: {model_backend.model}; {resumed} unfinished chunks re-enqueued"
        )
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        try:
            while not stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            click.echo("stopping: chunks in progress finish their current case", err=True)
            jobs.stop()
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
    of 400 or more; latency is the mean and the median (p50) in milliseconds. "reused
    tok" are input tokens the backend served from a cache rather than evaluated (the
    embedded model's kept prompt prefix, Anthropic's and OpenAI's prompt caches) and
    "model s" the seconds the backend spent, over the calls whose backend reported them
    ("-" when none did).
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
            str(t.reused_input_tokens) if t.reused_input_tokens is not None else "-",
            f"{t.model_seconds:.1f}" if t.model_seconds is not None else "-",
            ms(t.mean_latency_ms),
            ms(t.p50_latency_ms),
            ", ".join(f"{name}={count}" for name, count in t.by_endpoint.items()) or "-",
        ]
        for t in totals
    ]
    headers = [
        "workspace",
        "calls",
        "errors",
        "input tok",
        "output tok",
        "reused tok",
        "model s",
        "mean ms",
        "p50 ms",
    ]
    click.echo(_format_table([*headers, "by endpoint"], rows))


# --- prompts --------------------------------------------------------------------

# Imports here are local to the commands: ``promptmill --help`` and ``serve`` should not
# pay for httpx, rich and the engine, and a command only loads what it uses.

_VARIABLE_PATTERN = r"\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}"


_Decorator = Callable[[Callable[..., None]], Callable[..., None]]


def _server_options_for(*, anthropic_too: bool) -> _Decorator:
    """Where to send a request: ``--base-url`` and ``--api-key``."""
    help = (
        "The server to call (also PROMPTMILL_BASE_URL). "
        "https://api.anthropic.com works too: it is the same API."
        if anthropic_too
        else "The promptmill server to call (also PROMPTMILL_BASE_URL)."
    )

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        for option in reversed(_connection_options(help)):
            command = option(command)
        return command

    return decorate


def _connection_options(base_url_help: str) -> list[_Decorator]:
    return [
        click.option(
            "--base-url",
            envvar="PROMPTMILL_BASE_URL",
            default="http://127.0.0.1:8000",
            show_default=True,
            help=base_url_help,
        ),
        click.option(
            "--api-key",
            default=None,
            help="The API key to send; default: PROMPTMILL_API_KEY, then ANTHROPIC_API_KEY.",
        ),
    ]


# The evaluation commands use promptmill's extensions, which only a promptmill server has.
_server_options = _server_options_for(anthropic_too=False)


def _json_option(command: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print only JSON on stdout (the API's answer; for eval, the run, summary, "
        "comparison and results), for scripts and pipes.",
    )(command)


def _prompt_tool_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options every prompt command shares: where to send it and how to print it."""
    options: list[_Decorator] = [
        _server_options_for(anthropic_too=True),
        click.option(
            "--in-process",
            is_flag=True,
            help="Run the engine here, with the backend PROMPTMILL_* configures, no server needed.",
        ),
        click.option(
            "--save",
            "save_as",
            default=None,
            metavar="NAME",
            help="Also save the resulting prompt on the server as the next version of NAME "
            "(see `promptmill prompts`).",
        ),
        _json_option,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _separate_system_option(command: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--separate-system",
        is_flag=True,
        help="Return the instructions as a separate system prompt where the target's "
        "family uses one (GPT, o-series, Gemini): promptmill's opt-in header "
        "promptmill-separate-system. Without it, system is empty and the whole prompt is "
        "the user message, as Anthropic's API answers.",
    )(command)


def _separate_system_headers(separate_system: bool) -> dict[str, str] | None:
    return {SEPARATE_SYSTEM_HEADER: "true"} if separate_system else None


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
    save_as: str | None = None,
    show: Callable[[dict[str, Any], float], None] | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Call one tool (server or in-process), show progress on stderr, print the answer.

    ``run_engine(engine, on_progress)`` is the in-process twin of POSTing ``body`` (and
    the extra ``headers``) to ``path``. Any API error ends the command with exit code 1
    and ``error: TYPE: MESSAGE``.
    ``save_as`` saves the answer as a prompt version (on the server) before printing it.
    """
    if save_as is not None and in_process:
        raise click.UsageError(
            "--save keeps the prompt on a server; it cannot be combined with --in-process"
        )
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
                    response = client.post(
                        path,
                        body,
                        on_progress=on_progress if streams else None,
                        headers=headers,
                    )
                    if save_as is not None:
                        # optimize answers the prompt under "prompt"; the tools, at the top.
                        prompt = response.get("prompt", response)
                        version = client.save_prompt(
                            save_as, prompt["messages"], system=prompt.get("system", "")
                        )
                        err_console.print(
                            f"Saved as [bold]{version.name}@{version.number}[/]", highlight=False
                        )
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
@_separate_system_option
@_prompt_tool_options
def generate(
    task: str,
    target_model: str | None,
    separate_system: bool,
    base_url: str,
    api_key: str | None,
    in_process: bool,
    save_as: str | None,
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
        save_as=save_as,
        headers=_separate_system_headers(separate_system),
        run_engine=lambda engine, on_progress: engine.generate(
            task, target_model, separate_system=separate_system, on_progress=on_progress
        ),
    )


@main.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--feedback", default=None, help="What to change, e.g. 'Make it more concise'.")
@click.option("--system", default=None, help="The prompt's existing system prompt.")
@click.option("--target-model", default=None, help="The model the prompt will be used with.")
@_separate_system_option
@_prompt_tool_options
def improve(
    file: TextIO,
    feedback: str | None,
    system: str | None,
    target_model: str | None,
    separate_system: bool,
    base_url: str,
    api_key: str | None,
    in_process: bool,
    save_as: str | None,
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
        save_as=save_as,
        headers=_separate_system_headers(separate_system),
        run_engine=lambda engine, on_progress: engine.improve(
            [message],
            system or "",
            feedback,
            target_model,
            separate_system=separate_system,
            on_progress=on_progress,
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
    save_as: str | None,
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
        save_as=save_as,
        run_engine=lambda engine, on_progress: engine.templatize(
            [message], system or "", on_progress=on_progress
        ),
    )


# --- prompt versions and evaluation -------------------------------------------------

# A PROMPT argument is a file (a text prompt, or the JSON a prompt tool answers) or the
# name of a saved prompt, optionally with its version (chef@2); a file of that name wins.
_PROMPT_HELP = (
    "PROMPT is a file (a text prompt, or the JSON of a prompt tool's answer; - for stdin) "
    "or a saved prompt's NAME[@VERSION] (default: its latest version)."
)
_CASE_FORMATS: dict[str, Literal["csv", "jsonl"]] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


@contextmanager
def _api_errors() -> Iterator[None]:
    """An API error ends the command: ``error: TYPE: MESSAGE`` on stderr, exit code 1."""
    from promptmill.errors import PromptmillError

    try:
        yield
    except PromptmillError as error:
        click.echo(f"error: {error.error_type}: {error.message}", err=True)
        raise SystemExit(1) from None


def _client(base_url: str, api_key: str | None) -> Client:
    from promptmill.client import Client

    return Client(base_url=base_url, api_key=api_key)


def _print_json(value: Any) -> None:
    import json

    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _wire_message(message: Any, source: str) -> dict[str, Any]:
    """A message of a JSON prompt file, with a plain-string content made a text block."""
    if not isinstance(message, dict):
        raise click.BadParameter(f"{source}: every message must be a JSON object")
    content = message.get("content")
    if isinstance(content, str):
        return {**message, "content": [{"type": "text", "text": content}]}
    return dict(message)


def _prompt_from_text(text: str, source: str) -> dict[str, Any]:
    """A prompt file's content as the API's inline prompt ``{messages, system}``.

    A JSON object with ``messages`` (a prompt tool's answer, a saved version) is taken
    as it is, prefill and system included; any other text is one user message.
    """
    import json

    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            raise click.BadParameter(f"{source} looks like JSON but is not valid: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            raise click.BadParameter(
                f"{source} is JSON without a 'messages' list (expected a prompt tool's answer)"
            )
        return {
            "messages": [_wire_message(m, source) for m in data["messages"]],
            "system": str(data.get("system") or ""),
        }
    message = {"role": "user", "content": [{"type": "text", "text": text.removesuffix("\n")}]}
    return {"messages": [message], "system": ""}


def _resolve_prompt(argument: str, *, in_process: bool) -> tuple[Any, str | None]:
    """PROMPT as the client takes it, with a label for a file (None: the server names it)."""
    from promptmill.eval_client import parse_prompt_ref

    if argument == "-":
        import sys

        return _prompt_from_text(sys.stdin.read(), "stdin"), "stdin"
    path = Path(argument)
    if path.is_file():
        return _prompt_from_text(path.read_text(encoding="utf-8"), repr(argument)), path.name
    if parse_prompt_ref(argument) is None:
        raise click.BadParameter(
            f"{argument!r} is neither a file nor a saved prompt's NAME[@VERSION]",
            param_hint="PROMPT",
        )
    if in_process:
        raise click.BadParameter(
            f"no file {argument!r}: with --in-process there is no server to hold saved "
            "prompts, so PROMPT must be a file",
            param_hint="PROMPT",
        )
    return argument, None


def _case_format(path: Path, option: str) -> Literal["csv", "jsonl"]:
    fmt = _CASE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise click.BadParameter(
            f"{str(path)!r}: the file name must end in .csv or .jsonl (the format)",
            param_hint=option,
        )
    return fmt


def _read_case_file(path: Path) -> list[Any]:
    """The cases of a CSV or JSONL file; a malformed file is a usage error naming the row."""
    from promptmill.engine.cases import read_cases
    from promptmill.errors import InvalidRequestError

    fmt = _case_format(path, "--cases")
    try:
        return read_cases(path.read_text(encoding="utf-8"), fmt)
    except InvalidRequestError as exc:
        raise click.BadParameter(f"{str(path)!r}: {exc.message}", param_hint="--cases") from None
    except OSError as exc:
        raise click.BadParameter(f"{str(path)!r}: {exc.strerror}", param_hint="--cases") from None


def _in_process_backend() -> tuple[Any, float]:
    """The backend PROMPTMILL_* configures, built here, and the request timeout."""
    with _needs_extra("server"):
        from promptmill.config import Settings
    from promptmill.errors import ConfigurationError
    from promptmill.startup import build_engine

    try:
        settings = Settings.load()
    except ConfigurationError as exc:
        raise click.ClickException(f"misconfigured: {exc.message}") from None
    return build_engine(settings).backend, settings.request_timeout


def _template(prompt: dict[str, Any]) -> Any:
    """An inline prompt as the engine's ``PromptTemplate`` (message order checked)."""
    from pydantic import ValidationError

    from promptmill.engine.versions import PromptTemplate
    from promptmill.types import PromptMessage, check_message_order

    try:
        messages = [PromptMessage.model_validate(m) for m in prompt["messages"]]
    except ValidationError as exc:
        raise click.BadParameter(
            f"a message is not a text message of the Messages API: {exc.errors()[0]['msg']}",
            param_hint="PROMPT",
        ) from None
    check_message_order(messages)
    return PromptTemplate(messages=messages, system=prompt["system"])


@main.group()
def prompts() -> None:
    """Save, list, show and diff prompt versions, kept by the server per workspace.

    Every save of changed content is a new immutable version (chef@1, chef@2, ...);
    saving unchanged content returns the latest version. A saved prompt can be
    evaluated by name: `promptmill eval chef@2 --cases cases.csv --grader contains`.
    """


@prompts.command("save")
@click.argument("name")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--system", default=None, help="The system prompt (replaces a JSON FILE's).")
@_server_options
@_json_option
def prompts_save(
    name: str, file: TextIO, system: str | None, base_url: str, api_key: str | None, as_json: bool
) -> None:
    """Save the prompt in FILE (use - for stdin) as the next version of NAME.

    FILE is a text prompt (it becomes one user message) or the JSON a prompt tool
    answers (`promptmill generate --json`), saved as it is: messages, assistant prefill
    and system prompt. `promptmill generate TASK --save NAME` does both in one step.
    """
    prompt = _prompt_from_text(file.read(), f"FILE {file.name!r}")
    with _api_errors(), _client(base_url, api_key) as client:
        version = client.save_prompt(
            name, prompt["messages"], system=system if system is not None else prompt["system"]
        )
    if as_json:
        _print_json(version.model_dump(mode="json"))
        return
    variables = ", ".join(version.variables) or "none"
    click.echo(f"{version.name}@{version.number} saved (variables: {variables})")


@prompts.command("list")
@_server_options
@_json_option
def prompts_list(base_url: str, api_key: str | None, as_json: bool) -> None:
    """List the workspace's prompts with their latest version and how many there are."""
    from rich.console import Console

    from promptmill.eval_view import prompts_table

    with _api_errors(), _client(base_url, api_key) as client:
        items = client.list_prompts()
    if as_json:
        _print_json([item.model_dump(mode="json") for item in items])
    elif not items:
        click.echo("No prompts yet. Save one with: promptmill prompts save NAME FILE")
    else:
        Console().print(prompts_table(items))


@prompts.command("show")
@click.argument("prompt", metavar="NAME[@VERSION]")
@_server_options
@_json_option
def prompts_show(prompt: str, base_url: str, api_key: str | None, as_json: bool) -> None:
    """Show a saved prompt's version (default: the latest), variables highlighted."""
    from rich.console import Console

    from promptmill.eval_client import parse_prompt_ref
    from promptmill.eval_view import show_prompt_version

    ref = parse_prompt_ref(prompt)
    if ref is None:
        raise click.BadParameter(f"{prompt!r} is not NAME or NAME@VERSION", param_hint="PROMPT")
    with _api_errors(), _client(base_url, api_key) as client:
        version = client.prompt_version(*ref)
    if as_json:
        _print_json(version.model_dump(mode="json"))
    else:
        show_prompt_version(Console(), version)


@prompts.command("diff")
@click.argument("name")
@click.argument("from_version", metavar="A", type=click.IntRange(min=1), required=False)
@click.argument("to_version", metavar="B", type=click.IntRange(min=1), required=False)
@_server_options
@_json_option
def prompts_diff(
    name: str,
    from_version: int | None,
    to_version: int | None,
    base_url: str,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Show what changed from version A to version B of NAME, as a unified diff.

    B defaults to the latest version, A to the one before B.
    """
    from rich.console import Console

    from promptmill.eval_view import show_diff

    with _api_errors(), _client(base_url, api_key) as client:
        diff = client.diff_prompt(name, from_version, to_version)
    if as_json:
        _print_json(diff.model_dump(mode="json", by_alias=True))
    else:
        show_diff(Console(), diff.diff)


def _in_process_option(command: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--in-process",
        is_flag=True,
        help="Run the engine here, with the backend PROMPTMILL_* configures, no server "
        "needed (PROMPT must then be a file).",
    )(command)


@main.group()
def cases() -> None:
    """Test cases for evaluation (CSV or JSONL: one column per variable, plus the
    optional `expected` and `notes` columns)."""


@cases.command("generate", epilog=_PROMPT_HELP)
@click.argument("prompt")
@click.option(
    "-n",
    "--count",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="How many cases to write.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the cases to this file; .csv or .jsonl (the extension picks the format).",
)
@click.option("--save-as", metavar="DATASET", default=None, help="Also save them on the server.")
@click.option("--model", default=None, help="The model that writes them (default: the backend's).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=600.0,
    show_default=True,
    help="Seconds to wait for the server's answer (a small local model can take minutes).",
)
@_server_options
@_in_process_option
@_json_option
def cases_generate(
    prompt: str,
    count: int,
    output: Path | None,
    save_as: str | None,
    model: str | None,
    timeout: float,
    base_url: str,
    api_key: str | None,
    in_process: bool,
    as_json: bool,
) -> None:
    """Have the model write COUNT varied, realistic test cases for PROMPT's variables.

    The cases cover edge cases, are written in the prompt's language, and leave no
    value a placeholder. Without -o they are printed as a table.
    """
    from rich.console import Console

    from promptmill.engine.cases import write_cases
    from promptmill.eval_types import GenerateCasesResponse

    fmt = _case_format(output, "--output") if output is not None else None
    if save_as is not None and in_process:
        raise click.UsageError("--save-as keeps the cases on a server; not with --in-process")
    resolved, _ = _resolve_prompt(prompt, in_process=in_process)
    err_console = Console(stderr=True)
    with _api_errors(), err_console.status("[bold]Writing test cases…", spinner="dots"):
        if in_process:
            from promptmill.engine.cases import generate_cases

            backend, timeout = _in_process_backend()
            written, usage = generate_cases(
                backend, _template(resolved), count, timeout=timeout, model=model
            )
            generated = GenerateCasesResponse(cases=written, usage=usage)
        else:
            with _client(base_url, api_key) as client:
                generated = client.generate_cases(
                    resolved, count, save_as=save_as, model=model, timeout=timeout
                )
    if output is not None and fmt is not None:
        output.write_text(write_cases(generated.cases, fmt), encoding="utf-8")
        err_console.print(f"Wrote {len(generated.cases)} cases to {output}", highlight=False)
    if generated.dataset is not None:
        err_console.print(f"Saved as dataset [bold]{generated.dataset}[/]", highlight=False)
    if as_json:
        _print_json(generated.model_dump(mode="json"))
    elif output is None:
        from promptmill.eval_view import cases_table

        Console().print(cases_table(generated.cases))


def _unique_labels(labels: list[str | None]) -> list[str | None]:
    """Two files of the same name still get labels of their own (``a.txt``, ``a.txt #2``)."""
    seen: dict[str, int] = {}
    unique: list[str | None] = []
    for label in labels:
        if label is None:
            unique.append(None)
            continue
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return unique


@main.command("eval", epilog=_PROMPT_HELP)
@click.argument("prompt")
@click.option(
    "--cases",
    "cases_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A .csv or .jsonl file of test cases.",
)
@click.option(
    "--dataset",
    metavar="NAME",
    default=None,
    help="A dataset saved on the server, instead of --cases.",
)
@click.option(
    "--grader",
    "graders",
    multiple=True,
    metavar="SPEC",
    help="How to grade each output; repeatable: exact[:VALUE], contains[:VALUE], "
    "regex:PATTERN, json[:SCHEMA_FILE], numeric[:TOLERANCE], rubric[:TEXT]. Without VALUE, "
    "a case's `expected` is used (its `notes` for rubric).",
)
@click.option(
    "--compare",
    "compare_with",
    multiple=True,
    metavar="PROMPT",
    help="Another prompt to run on the same cases, compared with PROMPT; repeatable.",
)
@click.option(
    "--model",
    metavar="MODEL",
    default=None,
    help="The model to run the prompts on (default: the backend's).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Model calls in flight.",
)
@_server_options
@_in_process_option
@_json_option
def eval_command(
    prompt: str,
    cases_file: Path | None,
    dataset: str | None,
    graders: tuple[str, ...],
    compare_with: tuple[str, ...],
    model: str | None,
    concurrency: int,
    base_url: str,
    api_key: str | None,
    in_process: bool,
    as_json: bool,
) -> None:
    """Run PROMPT on every test case, grade the outputs and show them side by side.

    With --compare, every prompt runs on the same cases and each is compared with
    PROMPT: pass rate, mean score, tokens, latency, and paired significance tests
    (exact McNemar on pass/fail, Wilcoxon signed-rank on scores) with their p-values.
    Exit code 1 if the run fails or an API error occurs, 2 for bad arguments.
    """
    if (cases_file is None) == (dataset is None):
        raise click.UsageError("give the test cases as --cases FILE or --dataset NAME (one)")
    if in_process and dataset is not None:
        raise click.UsageError("--dataset needs a server; with --in-process use --cases FILE")
    specs = _grader_specs(graders)
    resolved = [_resolve_prompt(p, in_process=in_process) for p in (prompt, *compare_with)]
    labels = _unique_labels([label for _, label in resolved])
    cases = _read_case_file(cases_file) if cases_file is not None else None
    if in_process:
        report = _eval_in_process(
            [p for p, _ in resolved], labels, cases or [], specs, model, concurrency
        )
    else:
        report = _eval_on_server(
            [p for p, _ in resolved],
            labels,
            cases,
            dataset,
            specs,
            model,
            concurrency,
            base_url,
            api_key,
        )
    _show_report(report, as_json)


@dataclass(frozen=True)
class _Report:
    """What ``eval`` shows, the same for a server run (``run`` set) and an in-process one."""

    run: EvalRun | None
    labels: list[str]
    summary: list[VariantSummary]
    comparison: list[PairedTest]
    results: list[RunResult]


def _eval_on_server(
    prompts: list[Any],
    labels: list[str | None],
    cases: list[Any] | None,
    dataset: str | None,
    graders: list[dict[str, Any]],
    model: str | None,
    concurrency: int,
    base_url: str,
    api_key: str | None,
) -> _Report:
    from promptmill.eval_client import EvalVariant
    from promptmill.eval_view import RunProgressBar

    variants = [
        EvalVariant(prompt=p, label=label) for p, label in zip(prompts, labels, strict=True)
    ]
    with _api_errors(), _client(base_url, api_key) as client:
        run = client.create_run(
            variants,
            cases=cases,
            dataset=dataset,
            graders=graders,
            model=model,
            concurrency=concurrency,
        )
        try:
            with RunProgressBar(run.total) as bar:
                run = client.wait_for_run(
                    run, on_progress=lambda p: bar.update(p.done, p.total, p.status)
                )
        except KeyboardInterrupt:
            client.cancel_run(run)
            click.echo(f"Cancelled run {run.id}; its results so far stay on the server.", err=True)
            raise SystemExit(130) from None
        results = client.run_results(run)
    return _Report(run, [v.label for v in run.variants], run.summary, run.comparison, results)


def _eval_in_process(
    prompts: list[Any],
    labels: list[str | None],
    cases: list[Any],
    graders: list[dict[str, Any]],
    model: str | None,
    concurrency: int,
) -> _Report:
    from promptmill.eval_types import RunResult
    from promptmill.eval_view import RunProgressBar

    with _needs_extra("server"):
        from promptmill.engine.evaluation import Evaluator, Variant
        from promptmill.engine.graders import validate_graders

    with _api_errors():
        checked = validate_graders(graders)
        variants = [
            Variant(label=label or f"variant {i + 1}", template=_template(p), model=model)
            for i, (p, label) in enumerate(zip(prompts, labels, strict=True))
        ]
        backend, timeout = _in_process_backend()
        evaluator = Evaluator(backend, concurrency=concurrency, timeout=timeout)
        with RunProgressBar(len(cases) * len(variants)) as bar:
            report = evaluator.run(variants, cases, checked, on_result=lambda _: bar.advance())
    results = [
        RunResult(
            **result.model_dump(),
            variant=variants[result.variant_index].label,
            vars=cases[result.case_index].vars,
            expected=cases[result.case_index].expected,
            notes=cases[result.case_index].notes,
        )
        for result in sorted(report.results, key=lambda r: (r.case_index, r.variant_index))
    ]
    return _Report(None, [v.label for v in variants], report.summary, report.comparison, results)


def _show_report(report: _Report, as_json: bool) -> None:
    from rich.console import Console

    from promptmill.eval_view import show_run

    if as_json:
        _print_json(
            {
                "run": report.run.model_dump(mode="json") if report.run is not None else None,
                "variants": report.labels,
                "summary": [s.model_dump(mode="json") for s in report.summary],
                "comparison": [c.model_dump(mode="json") for c in report.comparison],
                "results": [r.model_dump(mode="json") for r in report.results],
            }
        )
    else:
        show_run(Console(), report.labels, report.results, report.summary, report.comparison)
    if report.run is not None and report.run.status != "completed":
        reason = f": {report.run.error}" if report.run.error else ""
        click.echo(f"error: the run was {report.run.status}{reason}", err=True)
        raise SystemExit(1)


# --- optimize -------------------------------------------------------------------


def _grader_specs(graders: tuple[str, ...]) -> list[dict[str, Any]]:
    """The grader objects the ``--grader`` shorthands stand for (``eval`` and ``optimize``)."""
    from promptmill.grader_shorthand import parse_grader

    specs = []
    for spec in graders:
        try:
            specs.append(parse_grader(spec))
        except ValueError as exc:
            raise click.BadParameter(f"{spec!r}: {exc}", param_hint="--grader") from None
    return specs


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
            "failed"
            if candidate.get("error")
            else score(candidate.get("train"))
            + (", stopped" if candidate.get("stopped_early") else ""),
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
    save_as: str | None,
) -> None:
    """Optimize the prompt in PROMPT (a file, - for stdin) on labelled cases.

    PROMPT is plain text (one user message) or the JSON a prompt tool answered. The
    cases are split into training and held-out cases; candidates (few-shot examples
    from the training cases, an improvement written from the failures, with and
    without reasoning) are scored on the training cases, and the best is printed with
    its scores beside the original's. The result never scores below the original on
    the training cases.
    """
    specs = _grader_specs(graders)
    cases = _read_case_file(Path(cases_path))
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
        save_as=save_as,
        show=_print_optimize_response,
    )
