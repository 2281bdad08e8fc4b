"""Every setting promptmill reads, in one place.

Settings come from ``PROMPTMILL_*`` environment variables (a few fall back to the
variables the vendors' own SDKs read, such as ``ANTHROPIC_API_KEY``), and the CLI
overrides some of them. Nothing else in the package reads the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from promptmill.backends.registry import BACKENDS
from promptmill.errors import ConfigurationError
from promptmill.types import GenerateMode

ENV_PREFIX = "PROMPTMILL_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    home: Path = Field(
        default=Path("~/.promptmill"), description="State folder (the SQLite database)."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is SQLite under PROMPTMILL_HOME."
    )

    backend: str = Field(
        default="local", description="A backend listed in promptmill.backends.registry."
    )
    request_timeout: float = Field(
        default=0.0,
        ge=0,
        description="Deadline in seconds for one API request, retries included; 0 (the "
        "default) means the backend's own: 300 for the embedded model, 120 for the others.",
    )
    max_retries: int = Field(default=2, ge=0, le=10)
    generate_mode: GenerateMode = Field(
        default="plan",
        description="How generate_prompt writes a prompt: 'plan' (the model fills in a plan, "
        "rendered and checked in code) or 'freeform' (the model writes the whole prompt, held "
        "to the same checks, planned instead if it fails them twice).",
    )

    local_model: str | None = Field(
        default=None,
        description="Path to a GGUF chat model, or an embedded model name ('qwen2.5-coder-1.5b', "
        "'smollm2-135m'); default: the embedded Qwen2.5-Coder-1.5B-Instruct.",
    )
    model_cache: Path | None = Field(
        default=None,
        description="Where embedded models are assembled, once per machine and shared by "
        "every PROMPTMILL_HOME; default: promptmill/models in the user's cache folder.",
    )
    local_threads: int | None = Field(default=None, ge=1)
    local_context: int = Field(default=4096, ge=512)
    local_prefix_cache_mb: int = Field(
        default=256,
        ge=0,
        description="RAM for the embedded model's saved fixed-prompt prefixes, so interleaved "
        "kinds of call (plan, judge, evaluation cases...) keep theirs; about 28 KB per token "
        "for Qwen2.5-Coder-1.5B. 0 keeps only llama.cpp's reuse of the previous call's prefix.",
    )

    anthropic_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PROMPTMILL_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"),
    )
    anthropic_base_url: str | None = None
    anthropic_model: str = "claude-sonnet-4-5"

    openai_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("PROMPTMILL_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"

    rate_limit_per_minute: int = Field(
        default=0,
        ge=0,
        description="Well-formed requests per minute per key, shared by every server process "
        "(in Redis when PROMPTMILL_REDIS_URL is set, else in the database); 0 turns it off.",
    )
    failed_key_checks_per_minute: int = Field(
        default=30,
        ge=0,
        description="Failed key checks per minute per client address; beyond it that address's "
        "key checks are answered 429 until the minute frees a slot. 0 turns it off.",
    )
    key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="Seconds a key this server verified is accepted again without reading "
        "the database (and an address found not over its failed checks is not re-read). "
        "Revoking through this process takes effect at once; a revocation by another "
        "process (promptmill keys revoke while serving) within this many seconds. 0 reads "
        "the database on every request.",
    )
    max_body_bytes: int = Field(default=32 * 1024 * 1024, gt=0)

    # --- capacity, timeouts and what is recorded (holding under faults) ---
    max_inflight_model_calls: int = Field(
        default=32,
        ge=1,
        description="Tool calls that may wait on the backend at once; more are answered 529 "
        "overloaded_error with retry-after at once. Each holds one worker thread.",
    )
    local_max_queue: int = Field(
        default=4,
        ge=0,
        description="Model calls that may queue for the embedded model while it runs another; "
        "more are answered 529 at once.",
    )
    store_bodies: bool = Field(
        default=False,
        description="Keep request and response bodies in the call records (history); off: "
        "only their sizes and the token counts are kept.",
    )
    stored_body_max_bytes: int = Field(
        default=64 * 1024,
        ge=0,
        description="With PROMPTMILL_STORE_BODIES on, a body larger than this is recorded by "
        "its size only.",
    )
    body_memory_bytes: int | None = Field(
        default=None,
        gt=0,
        description="Request bytes the server holds at once across all requests (default: "
        "PROMPTMILL_MAX_BODY_BYTES); a body that does not fit now is answered 529.",
    )
    header_read_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a connection may take to send a request's headers, idle "
        "keep-alive time included; then it is closed.",
    )
    body_read_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a request may take to send its whole body; then 408 and close.",
    )
    keep_alive_timeout: float = Field(
        default=5.0, gt=0, description="Seconds an idle keep-alive connection stays open."
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open connections (and requests) at once; beyond it new ones get 503.",
    )

    @property
    def resolved_body_memory_bytes(self) -> int:
        return self.body_memory_bytes or self.max_body_bytes

    eval_workers: int = Field(
        default=2,
        ge=0,
        description="Evaluation worker threads the server runs; 0: the server only enqueues "
        "runs and `promptmill worker` processes evaluate them.",
    )
    eval_max_cases: int = Field(default=500, ge=1, description="Most test cases in one run.")
    eval_max_active_runs: int = Field(
        default=4, ge=1, description="Most queued or running evaluation runs per workspace."
    )
    redis_url: str | None = Field(
        default=None,
        description="redis:// URL shared by every server process for the evaluation queue and "
        "the rate limit; default: both live in the store's database (a SQLite file under "
        "PROMPTMILL_HOME, or the PostgreSQL database).",
    )

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, name: str) -> str:
        if name not in BACKENDS:
            raise ValueError(f"{name!r} is not a backend; choose one of: {', '.join(BACKENDS)}")
        return name

    @model_validator(mode="after")
    def _backends_own_deadline(self) -> Settings:
        if not self.request_timeout:
            self.request_timeout = BACKENDS[self.backend].request_timeout
        return self

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable(s) that set ``field``, as a user would type them."""
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, AliasChoices):
            first, *others = (str(choice) for choice in alias.choices)
            return f"{first} (or {', '.join(others)})" if others else first
        return f"{ENV_PREFIX}{field.upper()}"

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """The settings from the environment plus ``overrides``.

        Raises ``ConfigurationError`` naming the first bad variable, so that commands can
        report it in one line instead of pydantic's report.
        """
        try:
            return cls(**overrides)  # type: ignore[arg-type]
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else ""
            setting = cls.env_name(field) if field in cls.model_fields else field
            message = first["msg"].removeprefix("Value error, ")
            raise ConfigurationError(f"{setting}: {message}", setting=setting) from None

    @property
    def model_cache_path(self) -> Path:
        """The embedded models' folder: ``model_cache`` or the user's cache folder."""
        if self.model_cache is not None:
            return self.model_cache.expanduser()
        from platformdirs import user_cache_path

        return user_cache_path("promptmill") / "models"

    @property
    def home_path(self) -> Path:
        return self.home.expanduser()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home_path / 'promptmill.db'}"
