"""Storage for API keys, workspaces, call records and evaluations (SQLite or PostgreSQL).

``Store.open(url)`` connects and migrates the schema to head; everything else is a
method on ``Store`` that takes and returns the plain values defined in ``records``.
"""

from promptmill.store.records import (
    ApiKeyInfo,
    CallRecord,
    DatasetRecord,
    EvalResultRecord,
    EvalRunRecord,
    PromptSummary,
    PromptVersionRecord,
    RunCounts,
    StoredCall,
    WorkspaceUsage,
)
from promptmill.store.store import Store, hash_secret

__all__ = [
    "ApiKeyInfo",
    "CallRecord",
    "DatasetRecord",
    "EvalResultRecord",
    "EvalRunRecord",
    "PromptSummary",
    "PromptVersionRecord",
    "RunCounts",
    "Store",
    "StoredCall",
    "WorkspaceUsage",
    "hash_secret",
]
