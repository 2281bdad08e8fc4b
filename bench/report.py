"""Writing benchmark results: the JSON, the Markdown summary, the chart, the machine.

Every benchmark writes ``<results-dir>/<name>.json`` (machine-readable, with the
machine and date so figures are never quoted without their context) and
``<name>.md`` (the table pasted into ``bench/README.md``). Charts need matplotlib
(the ``bench`` extra); without it the figures are still written and the chart is
reported as skipped, so the quick smoke tests run on a bare test install.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """Where and when the figures were taken."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        # Other work on the machine skews every figure; the 1-minute load says how much.
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is zero (JSON has no inf)."""
    return numerator / denominator if denominator else None


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "n/a"
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def save_chart(path: Path, draw: Any) -> str | None:
    """Draw a PNG with ``draw(figure)``; returns the file name, or None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "matplotlib is not installed (pip install -e '.[bench]'); chart skipped",
            file=sys.stderr,
        )
        return None
    figure = plt.figure(figsize=(8, 4.5), dpi=100)
    try:
        draw(figure)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    finally:
        plt.close(figure)
    return path.name


def write_results(
    name: str, data: dict[str, Any], markdown: str, results_dir: Path
) -> tuple[Path, Path]:
    """Write ``<name>.json`` and ``<name>.md``; the JSON always carries ``machine``."""
    results_dir.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), **data}
    json_path = results_dir / f"{name}.json"
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    info = payload["machine"]
    header = (
        f"# {name} benchmark\n\n{info['date']} - {info['nproc']} CPU(s), {info['cpu_model']}, "
        f"Python {info['python']}, load average {info['load_average_1m']:.1f} at the end"
        f"{' - quick mode' if data.get('quick') else ''}\n\n"
    )
    md_path = results_dir / f"{name}.md"
    md_path.write_text(header + markdown.rstrip() + "\n")
    return json_path, md_path


def base_parser(description: str) -> argparse.ArgumentParser:
    """Options every benchmark takes: ``--quick`` and ``--results-dir``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a handful of items, for smoke tests (minutes, not hours)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help=f"where to write <name>.json/.md/.png (default: {RESULTS_DIR})",
    )
    return parser
