"""A small Server-Sent Events parser for reading promptmill's streaming answers in tests."""

from __future__ import annotations

import json
from typing import Any


def parse_events(text: str) -> list[tuple[str, Any]]:
    """``event:``/``data:`` blocks separated by blank lines -> ``[(event, decoded JSON)]``."""
    events: list[tuple[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        name = "message"
        data_lines: list[str] = []
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data_lines.append(value)
        events.append((name, json.loads("\n".join(data_lines))))
    return events
