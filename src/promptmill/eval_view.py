"""How the command line shows evaluation: a run's progress bar, its results, cases, versions.

The CLI's commands fetch or compute the data (through the client or the in-process
engine) and hand it here as the shared models of ``promptmill.eval_types``, so a run on
a server and a run in-process look the same. Everything is drawn with rich; the
progress bar goes to stderr so that stdout holds only the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from promptmill.eval_types import (
    Grade,
    PairedTest,
    PromptListItem,
    PromptVersion,
    RunResult,
    TestCase,
    VariantSummary,
)

SIGNIFICANCE = 0.05
"""The p-value under which the comparison table calls a difference significant."""

_OUTPUT_WIDTH = 60
_VARIABLE_PATTERN = r"\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}"


class RunProgressBar:
    """A progress bar of a run's results on stderr: ``with RunProgressBar(total) as bar``."""

    def __init__(self, total: int, description: str = "evaluating") -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(description, total=total, status="")

    def __enter__(self) -> RunProgressBar:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def update(self, done: int, total: int, status: str = "") -> None:
        self._progress.update(self._task, completed=done, total=total, status=status)

    def advance(self) -> None:
        self._progress.advance(self._task)


# --- runs ---------------------------------------------------------------------------


def _grade_mark(grade: Grade) -> Text:
    if grade.passed is None:
        return Text(f"– {grade.grader}", style="dim")
    if grade.passed:
        return Text(f"✓ {grade.grader}", style="green")
    return Text(f"✗ {grade.grader}", style="red")


def _shorten(text: str, width: int = _OUTPUT_WIDTH) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _result_cell(result: RunResult | None) -> Text:
    if result is None:
        return Text("not run", style="dim")
    if result.error_type is not None:
        return Text(f"error: {result.error_type}: {result.error_message or ''}", style="bold red")
    cell = Text(_shorten(result.output))
    for grade in result.grades:
        cell.append("\n")
        cell.append_text(_grade_mark(grade))
        if grade.score is not None and grade.grader == "rubric":
            cell.append(f" {grade.score:g}/5", style="dim")
    return cell


def results_table(labels: Sequence[str], results: Sequence[RunResult]) -> Table:
    """One row per case: its variables (and expected output), then each variant's output
    and grades side by side."""
    by_pair = {(r.case_index, r.variant_index): r for r in results}
    cases: dict[int, RunResult] = {}
    for result in results:
        cases.setdefault(result.case_index, result)
    show_expected = any(r.expected is not None for r in cases.values())
    table = Table(title="results", show_lines=True, header_style="bold", title_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("case", overflow="fold")
    if show_expected:
        table.add_column("expected", overflow="fold")
    for label in labels:
        table.add_column(label, overflow="fold")
    for index in sorted(cases):
        case = cases[index]
        row: list[Text | str] = [
            str(index + 1),
            "\n".join(f"{name}={_shorten(value, 40)}" for name, value in case.vars.items()),
        ]
        if show_expected:
            row.append(_shorten(case.expected or "", 40))
        row.extend(_result_cell(by_pair.get((index, v))) for v in range(len(labels)))
        table.add_row(*row)
    return table


def _percent(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else "–"


def _number(value: float | None, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if value is not None else "–"


def summary_table(summary: Sequence[VariantSummary]) -> Table:
    """Per variant: pass rate, mean score (0..1), tokens and latency."""
    table = Table(title="summary", header_style="bold", title_justify="left")
    for column in ("variant", "cases", "errors", "pass rate", "mean score"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for column in ("input tok", "output tok", "mean ms", "p50 ms"):
        table.add_column(column, justify="right")
    for s in summary:
        table.add_row(
            s.label,
            str(s.cases),
            Text(str(s.errors), style="red" if s.errors else ""),
            _percent(s.pass_rate),
            _number(s.mean_score),
            str(s.input_tokens),
            str(s.output_tokens),
            _number(s.mean_latency_ms, 0),
            _number(s.p50_latency_ms, 0),
        )
    return table


def _p_value(value: float | None) -> Text:
    if value is None:
        return Text("–", style="dim")
    return Text(f"{value:.3g}", style="bold" if value < SIGNIFICANCE else "")


def _verdict(test: PairedTest, score_change: float) -> Text:
    """Significant when either test says so; the direction is the pass/fail balance, or the
    change of mean score when passes and failures balance out."""
    values = [p for p in (test.mcnemar_p, test.wilcoxon_p) if p is not None]
    if not values:
        return Text("too few paired cases", style="dim")
    if min(values) < SIGNIFICANCE:
        better = test.wins > test.losses if test.wins != test.losses else score_change > 0
        return Text(
            f"{'better' if better else 'worse'} than {test.baseline} (p < {SIGNIFICANCE})",
            style="green" if better else "red",
        )
    return Text(f"no significant difference (p ≥ {SIGNIFICANCE})", style="dim")


def comparison_table(comparison: Sequence[PairedTest], summary: Sequence[VariantSummary]) -> Table:
    """Each variant against the baseline: discordant pairs, both p-values, a verdict."""
    mean_score = {s.label: s.mean_score or 0.0 for s in summary}
    table = Table(title="comparison (paired)", header_style="bold", title_justify="left")
    for column in ("variant", "vs", "n", "wins", "losses", "McNemar p", "Wilcoxon p", "verdict"):
        table.add_column(column, justify="right" if column in ("n", "wins", "losses") else "left")
    for test in comparison:
        table.add_row(
            test.variant,
            test.baseline,
            str(test.n),
            str(test.wins),
            str(test.losses),
            _p_value(test.mcnemar_p),
            _p_value(test.wilcoxon_p),
            _verdict(test, mean_score.get(test.variant, 0.0) - mean_score.get(test.baseline, 0.0)),
        )
    return table


def show_run(
    console: Console,
    labels: Sequence[str],
    results: Sequence[RunResult],
    summary: Sequence[VariantSummary],
    comparison: Sequence[PairedTest],
) -> None:
    """The whole report: results side by side, the summary, and the comparison."""
    parts: list[Table] = [results_table(labels, results), summary_table(summary)]
    if comparison:
        parts.append(comparison_table(comparison, summary))
    console.print(Group(*parts))


# --- cases and prompts --------------------------------------------------------------


def cases_table(cases: Sequence[TestCase]) -> Table:
    names = list(dict.fromkeys(name for case in cases for name in case.vars))
    extra = [c for c in ("expected", "notes") if any(getattr(case, c) for case in cases)]
    table = Table(show_lines=True, header_style="bold")
    table.add_column("#", justify="right")
    for name in [*names, *extra]:
        table.add_column(name, overflow="fold", style="magenta" if name in names else "")
    for index, case in enumerate(cases, start=1):
        values = [case.vars.get(name, "") for name in names]
        values += [getattr(case, column) or "" for column in extra]
        table.add_row(str(index), *values)
    return table


def show_prompt_version(console: Console, version: PromptVersion) -> None:
    """A version's header line, then its sections with the variables highlighted."""
    console.print(
        f"[bold]{version.name}@{version.number}[/]  [dim]{version.content_hash[:12]}  "
        f"{version.created_at:%Y-%m-%d %H:%M:%S}[/]  variables: "
        f"{', '.join(version.variables) or '–'}",
        highlight=False,
    )
    sections = [("system", version.system)] if version.system else []
    sections += [
        ("prompt" if m.role == "user" else "prefill (assistant)", m.text) for m in version.messages
    ]
    for title, text in sections:
        console.rule(f"[bold]{title}", align="left", style="dim")
        body = Text(text)
        body.highlight_regex(_VARIABLE_PATTERN, style="bold magenta")
        console.print(body, soft_wrap=True)


def prompts_table(prompts: Sequence[PromptListItem]) -> Table:
    table = Table(header_style="bold")
    for column in ("name", "latest", "versions", "updated (UTC)"):
        table.add_column(column)
    for item in prompts:
        table.add_row(
            item.name,
            f"@{item.latest_version}",
            str(item.versions),
            f"{item.updated_at:%Y-%m-%d %H:%M:%S}",
        )
    return table


def show_diff(console: Console, diff: str) -> None:
    if not diff:
        console.print("[dim]The two versions are identical.[/]")
        return
    console.print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))
