"""Shared helpers of the AsyncAPI import's unit tests (tests/unit/test_asyncapi*.py): the
example documents (scenarios/asyncapi/*.asyncapi.yaml), `write` for a document made by hand,
and `assert_comment_paths_exist` for the comments of an imported scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from models.traces.imported import ImportedScenario

EXAMPLES = Path(__file__).resolve().parents[2] / "scenarios" / "asyncapi"
ORDERS = EXAMPLES / "orders.asyncapi.yaml"  # AsyncAPI 3.0: sends order-placed
PAYMENTS = EXAMPLES / "payments.asyncapi.yaml"  # AsyncAPI 2.6: receives, sends payment-completed
SHIPPING = EXAMPLES / "shipping.asyncapi.yaml"  # AsyncAPI 3.0: receives through a trait


def write(folder: Path, document: dict[str, Any], name: str = "api.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def node(document: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def assert_comment_paths_exist(imported: ImportedScenario) -> None:
    for path in imported.comments:
        node(imported.document, path)  # a KeyError names the dangling comment
