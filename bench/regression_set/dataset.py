"""Where the regression set lives and what its files hold.

The scenario files (tests/data/analysis_regression/*.yaml, a comment on top) and the pinned
reference (reference.json); reading and writing them; the checkout a run uses
(`git_description`, `use_root`); and which values of a results or prediction document the
set compares (`compared_paths`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
"""The checkout this package is in."""
SCRIPT = ROOT / "bench" / "analysis_regression.py"
"""The command (re-run as the `--analysis-root` worker)."""
DATA = ROOT / "tests" / "data" / "analysis_regression"
"""The folder of the scenario files and of the reference."""
REFERENCE = DATA / "reference.json"
"""The pinned simulated means (`--simulate`)."""
LOADS = (0.60, 0.95)
"""Fraction of the bottleneck's capacity of the two loads of every shape."""


def write_scenario(path: Path, comment: str, document: dict[str, Any]) -> None:
    """Write a scenario file: `comment` (lines starting with ``#``), then the document."""
    import yaml

    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=100)
    path.write_text(comment + text)


def read_scenario(path: Path) -> tuple[str, dict[str, Any]]:
    """(the comment on top, the document) of a scenario file."""
    import yaml

    text = path.read_text()
    comment = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    return comment, yaml.safe_load(text)


def model_files(only: Iterable[str] = ()) -> list[Path]:
    """The scenario files of the set, in order (those named in `only`, or all)."""
    wanted = set(only)
    files = sorted(DATA.glob("*.yaml"))
    return [
        path
        for path in files
        if not wanted or path.stem in wanted or any(path.stem.startswith(name) for name in wanted)
    ]


def load_of(model: str) -> float:
    """The load of a model from its name (``..._60`` -> 0.6)."""
    return int(model.rsplit("_", 1)[1]) / 100


def compared_paths(document: dict[str, Any]) -> list[tuple[str, ...]]:
    """Every path of a results (or prediction) document that the set compares, with the
    utilizations (recorded for the table, not compared)."""
    paths: list[tuple[str, ...]] = []
    for flow in document.get("flows", {}):
        paths.append(("flows", flow, "response_time", "mean"))
    for name in document.get("services", {}):
        paths.append(("services", name, "response_time", "mean"))
        paths.append(("services", name, "waiting_time", "mean"))
        paths.append(("services", name, "utilization"))
    for topic, value in document.get("topics", {}).items():
        for group in value.get("groups", {}):
            paths.append(("topics", topic, "groups", group, "sojourn_time", "mean"))
            paths.append(("topics", topic, "groups", group, "waiting_time", "mean"))
            paths.append(("topics", topic, "groups", group, "utilization"))
    return paths


def lookup(tree: Any, path: Iterable[str]) -> Any:
    """The value at `path` (Mappings or attributes); None if absent."""
    for key in path:
        if tree is None:
            return None
        tree = tree.get(key) if isinstance(tree, dict) else getattr(tree, key, None)
    return tree


def response_path(path: str) -> str | None:
    """The response (sojourn) time path of the entity of a waiting-time path."""
    if path.endswith(".waiting_time.mean"):
        entity = path[: -len(".waiting_time.mean")]
        return entity + (".sojourn_time.mean" if ".groups." in path else ".response_time.mean")
    return None


def scenario_digest(path: Path) -> str:
    """SHA-256 of a scenario file's document (comments and layout aside): the reference
    values hold only for the document they were simulated from."""
    import hashlib

    document = read_scenario(path)[1]
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def git_description(root: Path) -> dict[str, Any]:
    """The commit of a checkout and whether its models/ or sim/ differ from it."""

    def run(*arguments: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *arguments], capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = run("rev-parse", "HEAD")
    changed = run("status", "--porcelain", "--", "models", "sim")
    return {
        "root": str(root),
        "commit": commit,
        "subject": run("log", "-1", "--format=%s"),
        "models_or_sim_changed": bool(changed),
    }


def read_reference() -> dict[str, Any]:
    """The pinned reference (reference.json)."""
    reference: dict[str, Any] = json.loads(REFERENCE.read_text())
    return reference


def use_root(root: str | None) -> None:
    """Import `models` and `sim` from `root` (a checkout) rather than this one."""
    if root:
        sys.path.insert(0, str(Path(root).resolve()))
