"""The scenario as it was run (`run --out` writes it as ``scenario.yaml``): running that file
again reproduces the run exactly.

It is the validated scenario with the chosen variant applied and every default filled in,
times in seconds and rates per second, and:

- the replications and seed of the run: the command line's where given, else the file's;
- the data files it reads (a replayed trace, empirical samples) by absolute path, so the
  file works from the output folder;
- every distribution as the file wrote it (its times in seconds): a distribution is stored
  by its parameters (a lognormal's mu and sigma), and writing those back as the mean and cv
  the file gave can change the last digit, and with it the random numbers.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.schema import Scenario


def resolved_scenario_yaml(
    scenario: Scenario, replications: int | None = None, seed: int | None = None
) -> str:
    """The YAML text of `scenario` as run with `replications` and `seed` (None: the
    scenario's own)."""
    import yaml

    document = scenario.model_dump(mode="json", exclude_none=True)
    if replications is not None:
        document["simulation"]["replications"] = replications
    if seed is not None:
        document["simulation"]["seed"] = seed
    source = Path(scenario.source)
    written = _as_written(scenario) if source.is_file() else None
    if written is not None:
        _distributions_as_written(document, written)
    _absolute_data_files(document, source.resolve().parent if source.is_file() else Path.cwd())
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _as_written(scenario: Scenario) -> dict[str, Any] | None:
    """The scenario's file as parsed, with its variant's overrides applied (None if the
    file cannot be read again)."""
    from models.errors import ScenarioError
    from models.loading import apply_override, read_scenario_file

    try:
        raw = read_scenario_file(Path(scenario.source))
    except ScenarioError:
        return None
    variants = raw.pop("variants", None)
    name = scenario.variant_name
    if name is not None:
        overrides = variants.get(name) if isinstance(variants, dict) else None
        if not isinstance(overrides, dict):
            return None
        for dotted, value in overrides.items():
            if apply_override(raw, str(dotted), copy.deepcopy(value)) is not None:
                return None
    return raw


def _distributions_as_written(node: Any, written: Any) -> None:
    """Replace, in `node` (the dumped scenario), every distribution by the one at the same
    place in `written` (the file), if it is there and of the same family."""
    pairs: list[tuple[Any, Any]]
    if isinstance(node, dict) and isinstance(written, dict):
        pairs = [(key, written[key]) for key in node if key in written]
    elif isinstance(node, list) and isinstance(written, list) and len(node) == len(written):
        pairs = list(enumerate(written))
    else:
        return
    for key, original in pairs:
        family = _family(node[key])
        if family is not None and family == _family(original):
            node[key] = _in_seconds(original)
        else:
            _distributions_as_written(node[key], original)


def _family(value: Any) -> str | None:
    """The family of `value` if it is a distribution (a mapping with one key, a family)."""
    from models.distribution_spec import FAMILIES

    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if key in FAMILIES:
            return str(key)
    return None


def _in_seconds(value: Any) -> Any:
    """`value` (a distribution as written) with its times with a unit in seconds."""
    from models.units import parse_duration

    if isinstance(value, dict):
        return {key: _in_seconds(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_in_seconds(item) for item in value]
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            return value  # e.g. the name of a file of samples
    return value


def _absolute_data_files(node: Any, folder: Path) -> None:
    """Make the relative ``file`` of every ``empirical`` and ``trace`` mapping absolute."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("empirical", "trace") and isinstance(value, dict):
                file = value.get("file")
                if isinstance(file, str) and not Path(file).is_absolute():
                    value["file"] = str((folder / file).resolve())
            _absolute_data_files(value, folder)
    elif isinstance(node, list):
        for item in node:
            _absolute_data_files(item, folder)
