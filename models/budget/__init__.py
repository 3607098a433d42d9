"""Limits: scenarios that would never end, or not fit, are refused before they run.

A scenario can be valid and still run away (docs/scenario-language.md, "Limits"). What can be
known before the run is checked here, each problem a `Problem` with its YAML path, like any
other, so that `archsim validate` and `archsim run` report it with exit code 2:

- **message explosions** (`check_limits`; `models.budget.topics`): messages that multiply
  without end through a cycle of topics;
- **zero-time loops** (`check_limits`; `models.budget.zero_time`): flows, arrivals and
  crashes that would repeat for ever at the same instant;
- **absurd sizes** (`check_limits`, and `check_run` for the run as asked;
  `models.budget.sizes`): replicas, consumer threads, partitions, keys, clients, retries,
  message attempts and publish counts beyond what a run can hold, and time series of more
  rows than fit in memory;
- **event load** (`check_run`; `models.budget.events`): the expected number of simulation
  events of one replication (`estimate_events`) against the event budget,
  `DEFAULT_MAX_EVENTS` unless `--max-events` says otherwise.

All of them read the scenario through the expected cost of its steps (`Cost`, `Walker`:
`models.budget.steps`); `models.budget.checks` puts them together. The modules import each
other in that order only: steps, then topics and sizes, then zero_time and events, then
checks; none imports this package.

Whatever gets through is bounded while it runs (`sim.engine.budget`): a replication that
exceeds the event budget or its memory stops, and its results are marked partial.

Pure Python, no numpy: `archsim validate` loads no heavy module (tests/unit/test_startup.py).
"""

from __future__ import annotations

from models.budget.checks import (
    check_limits,
    check_run,
    refuse_runaway_file,
    refuse_runaway_run,
)
from models.budget.events import (
    DEFAULT_MAX_EVENTS,
    SECONDS_PER_EVENT,
    EventEstimate,
    FlowLoad,
    estimate_events,
)
from models.budget.sizes import (
    MAX_ATTEMPTS,
    MAX_CLIENTS,
    MAX_CONSUMERS,
    MAX_KEYS,
    MAX_PARTITIONS,
    MAX_PUBLISH_COUNT,
    MAX_REPLICAS,
    MAX_REPLICATIONS,
    MAX_TIMESERIES_ROWS,
    timeseries_series,
)
from models.budget.steps import Cost, Walker
from models.budget.topics import (
    EXPLOSION_PIVOT,
    TopicGraph,
    explosion_problems,
    strongly_connected,
    topic_graph,
)

__all__ = [
    "DEFAULT_MAX_EVENTS",
    "EXPLOSION_PIVOT",
    "MAX_ATTEMPTS",
    "MAX_CLIENTS",
    "MAX_CONSUMERS",
    "MAX_KEYS",
    "MAX_PARTITIONS",
    "MAX_PUBLISH_COUNT",
    "MAX_REPLICAS",
    "MAX_REPLICATIONS",
    "MAX_TIMESERIES_ROWS",
    "SECONDS_PER_EVENT",
    "Cost",
    "EventEstimate",
    "FlowLoad",
    "TopicGraph",
    "Walker",
    "check_limits",
    "check_run",
    "estimate_events",
    "explosion_problems",
    "refuse_runaway_file",
    "refuse_runaway_run",
    "strongly_connected",
    "timeseries_series",
    "topic_graph",
]
