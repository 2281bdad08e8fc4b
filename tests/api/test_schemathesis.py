"""``/openapi.json`` tells the truth: schemathesis fuzzes a real server against it.

Its command line runs every phase (the schema's examples, coverage of each keyword,
random fuzzing, stateful sequences through the documented links, e.g. a tool call's
``request-id`` read back from the history) with a bounded number of generated requests
per operation, valid and invalid (``--mode all``), and every check
(enabled in the config file the test writes):
no 5xx, every status documented, bodies and headers conforming, invalid data rejected,
valid data accepted, a missing key refused. The server is the production app on
loopback with the fake OpenAI backend; about 50 s on two cores. The command line, not
schemathesis' pytest plugin, because the plugin does not run under pytest 9.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import RunningServer

MAX_EXAMPLES = 20

# Three operations have rules that span fields or need stored data, which JSON Schema
# cannot state: a dataset's ``content`` must parse as the CSV or JSONL it claims to be;
# generating cases needs a prompt with ``{{VARIABLES}}``; a run's cases must fill every
# variable of every variant's prompt. Each breach is a 400 naming the field; only the
# "schema-valid data is accepted" check is off, and only for these three.
_CONFIG = """\
checks.enabled = true

[[operations]]
include-path = "/v1/promptmill/datasets/{name}"
include-method = "PUT"
checks.positive_data_acceptance.enabled = false

[[operations]]
include-path = "/v1/promptmill/cases/generate"
include-method = "POST"
checks.positive_data_acceptance.enabled = false

[[operations]]
include-path = "/v1/promptmill/runs"
include-method = "POST"
checks.positive_data_acceptance.enabled = false
"""
SEED = 20261126


def _schemathesis() -> list[str]:
    script = Path(sys.executable).with_name("schemathesis")
    return [str(script)] if script.exists() else [shutil.which("schemathesis") or "schemathesis"]


def test_every_answer_conforms_to_the_published_schema(
    promptmill_server: RunningServer, tmp_path: Path
) -> None:
    (tmp_path / "schemathesis.toml").write_text(_CONFIG)
    run = subprocess.run(
        [
            *_schemathesis(),
            "run",
            promptmill_server.base_url + "/openapi.json",
            "--mode",
            "all",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--generation-database",
            "none",
            "--workers",
            "1",
            "--header",
            f"x-api-key: {promptmill_server.api_key}",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert "API Links:" in run.stdout  # the stateful phase followed the links
