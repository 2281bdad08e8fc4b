"""A real promptmill server on loopback for the client, CLI and playground tests.

The whole stack runs as in production (uvicorn, the FastAPI app, a SQLite store, the
engine) with one substitution: the backend is the OpenAI backend pointed at
``FakeOpenAIServer``, the wire-faithful fake of the paid API, so answers are instant
and deterministic. ``with LivePromptmill(tmp_path) as server`` gives ``server.url``,
a fresh API key ``server.api_key`` (workspace "default"), the ``store`` and the ``fake``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from promptmill.api.app import create_app
from promptmill.config import Settings
from promptmill.startup import build_engine
from promptmill.store import Store
from tests.fakes.http_server import FakeServer
from tests.fakes.openai_server import FakeOpenAIServer


class LivePromptmill(FakeServer):
    """``promptmill serve`` in a background thread, backed by a fake OpenAI."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__()
        self.state_dir = state_dir
        self.fake = FakeOpenAIServer()
        self.store: Store | None = None
        self.api_key = ""

    @property
    def url(self) -> str:
        return self.root_url

    def backend_env(self) -> dict[str, str]:
        """The environment that makes an in-process promptmill use the same fake."""
        return {
            "PROMPTMILL_BACKEND": "openai",
            "PROMPTMILL_OPENAI_BASE_URL": self.fake.base_url,
            "PROMPTMILL_OPENAI_API_KEY": "test",
            "PROMPTMILL_HOME": str(self.state_dir),
        }

    def settings(self) -> Settings:
        return Settings(
            backend="openai",
            openai_base_url=self.fake.base_url,
            openai_api_key="test",
            home=self.state_dir,
            max_retries=0,
            # The playground's history reopens calls from their stored bodies.
            store_bodies=True,
        )

    def build_app(self) -> Starlette:
        settings = self.settings()
        assert self.store is not None
        # The lifespan is off in the fake-server runner, so engine and store come ready.
        return create_app(settings, engine=build_engine(settings), store=self.store)

    def start(self) -> LivePromptmill:
        self.fake.start()
        self.store = Store.open(f"sqlite:///{self.state_dir / 'promptmill.db'}")
        _, self.api_key = self.store.create_key(workspace="default", name="tests")
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        if self.store is not None:
            self.store.close()
        self.fake.stop()

    def __enter__(self) -> LivePromptmill:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
