"""``promptmill keys create|list|revoke`` and ``promptmill usage``, invoked as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from promptmill.cli import main
from promptmill.store import CallRecord, Store


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh PROMPTMILL_HOME, with no database URL inherited from the environment."""
    monkeypatch.setenv("PROMPTMILL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PROMPTMILL_DATABASE_URL", raising=False)
    return tmp_path / "home"


def _store(home: Path) -> Store:
    return Store.open(f"sqlite:///{home / 'promptmill.db'}")


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_keys_create_prints_the_secret_as_the_last_line(home: Path) -> None:
    code, out, _ = _invoke("keys", "create", "--workspace", "team", "--name", "ci")
    assert code == 0
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("sk-pm-")
    with _store(home) as store:
        info = store.authenticate(secret)
    assert info is not None and (info.workspace, info.name) == ("team", "ci")
    assert info.id in out


def test_keys_create_defaults_to_the_default_workspace(home: Path) -> None:
    _, out, _ = _invoke("keys", "create")
    with _store(home) as store:
        info = store.authenticate(out.strip().splitlines()[-1])
    assert info is not None and info.workspace == "default"


def test_keys_list_shows_every_key_but_never_a_secret(home: Path) -> None:
    _, first, _ = _invoke("keys", "create", "--workspace", "a", "--name", "laptop")
    _, second, _ = _invoke("keys", "create", "--workspace", "b")
    code, out, _ = _invoke("keys", "list")
    assert code == 0
    with _store(home) as store:
        keys = store.list_keys()
    assert len(keys) == 2
    for key in keys:
        row = next(line for line in out.splitlines() if line.startswith(key.id))
        assert key.workspace in row and key.prefix in row
    assert "laptop" in out
    for created in (first, second):
        assert created.strip().splitlines()[-1] not in out


def test_keys_list_marks_revoked_keys_with_their_time(home: Path) -> None:
    with _store(home) as store:
        revoked, _ = store.create_key()
        live, _ = store.create_key()
        revoked_at = store.revoke_key(revoked.id).revoked_at
    assert revoked_at is not None
    _, out, _ = _invoke("keys", "list")
    revoked_row = next(line for line in out.splitlines() if line.startswith(revoked.id))
    live_row = next(line for line in out.splitlines() if line.startswith(live.id))
    assert revoked_row.endswith(revoked_at.strftime("%Y-%m-%d %H:%M:%S"))
    assert live_row.endswith("  -")


def test_keys_list_with_no_keys_says_how_to_create_one(home: Path) -> None:
    code, out, _ = _invoke("keys", "list")
    assert code == 0 and "promptmill keys create" in out


def test_keys_revoke_stops_the_key_from_authenticating(home: Path) -> None:
    with _store(home) as store:
        info, secret = store.create_key()
    code, out, _ = _invoke("keys", "revoke", info.id)
    assert code == 0 and info.id in out
    with _store(home) as store:
        assert store.authenticate(secret) is None


def test_keys_revoke_of_an_unknown_id_exits_1_with_a_clear_message(home: Path) -> None:
    code, out, err = _invoke("keys", "revoke", "key_nope")
    assert code == 1
    assert "no API key with id 'key_nope'" in err
    assert out == ""


def test_usage_prints_one_row_per_workspace(home: Path) -> None:
    with _store(home) as store:
        store.record_call(
            CallRecord(
                key_id=None,
                workspace="team",
                endpoint="generate_prompt",
                usage=[{"input_tokens": 1234, "output_tokens": 5678}],
                latency_ms=40,
            )
        )
        store.create_key(workspace="idle")
    code, out, _ = _invoke("usage")
    assert code == 0
    team = next(line for line in out.splitlines() if line.startswith("team"))
    assert "1234" in team and "5678" in team and "generate_prompt=1" in team
    assert any(line.startswith("idle") for line in out.splitlines())


def test_usage_json_gives_the_totals_of_the_asked_workspace(home: Path) -> None:
    with _store(home) as store:
        for status in (200, 529):
            store.record_call(
                CallRecord(
                    key_id=None,
                    workspace="team",
                    endpoint="improve_prompt",
                    status=status,
                    usage=[{"input_tokens": 2, "output_tokens": 3}],
                )
            )
        store.record_call(CallRecord(key_id=None, workspace="other", endpoint="improve_prompt"))
    code, out, _ = _invoke("usage", "--workspace", "team", "--json")
    assert code == 0
    assert json.loads(out) == [
        {
            "workspace": "team",
            "calls": 2,
            "errors": 1,
            "input_tokens": 4,
            "output_tokens": 6,
            "reused_input_tokens": None,
            "model_seconds": None,
            "mean_latency_ms": 0.0,
            "p50_latency_ms": 0.0,
            "by_endpoint": {"improve_prompt": 2},
        }
    ]


def test_usage_shows_reused_input_tokens_and_model_seconds_where_reported(home: Path) -> None:
    metered = {"input_tokens": 900, "output_tokens": 50, "reused_input_tokens": 777, "seconds": 2.5}
    with _store(home) as store:
        store.record_call(
            CallRecord(key_id=None, workspace="team", endpoint="generate_prompt", usage=[metered])
        )
        store.record_call(CallRecord(key_id=None, workspace="vendor", endpoint="generate_prompt"))
    code, out, _ = _invoke("usage")
    assert code == 0
    header = out.splitlines()[0].split()
    assert "reused" in header and "model" in header
    team = next(line for line in out.splitlines() if line.startswith("team")).split()
    assert team[5:7] == ["777", "2.5"]
    vendor = next(line for line in out.splitlines() if line.startswith("vendor")).split()
    assert vendor[5:7] == ["-", "-"]


def test_usage_of_an_unknown_workspace_says_so(home: Path) -> None:
    code, out, _ = _invoke("usage", "--workspace", "ghost")
    assert code == 0 and "ghost" in out


def test_commands_use_promptmill_database_url_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'keys.db'}"
    monkeypatch.setenv("PROMPTMILL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PROMPTMILL_DATABASE_URL", url)
    _, out, _ = _invoke("keys", "create")
    with Store.open(url) as store:
        assert store.authenticate(out.strip().splitlines()[-1]) is not None
    assert not (tmp_path / "home" / "promptmill.db").exists()


def test_help_texts_document_every_keys_command() -> None:
    for args in (["keys"], ["keys", "create"], ["keys", "list"], ["keys", "revoke"], ["usage"]):
        code, out, _ = _invoke(*args, "--help")
        assert code == 0 and "Usage: " in out


def test_real_promptmill_keys_create_process_prints_a_working_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTMILL_")}
    env["PROMPTMILL_HOME"] = str(tmp_path / "home")
    promptmill = Path(sys.executable).with_name("promptmill")
    if promptmill.exists():
        command = [str(promptmill)]
    else:  # not installed as a script: run the same entry point through the interpreter
        command = [sys.executable, "-c", "from promptmill.cli import main; main()"]
    completed = subprocess.run(
        [*command, "keys", "create", "--workspace", "proc"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    secret = completed.stdout.splitlines()[-1]
    with Store.open(f"sqlite:///{tmp_path / 'home' / 'promptmill.db'}") as store:
        info = store.authenticate(secret)
    assert info is not None and info.workspace == "proc"
