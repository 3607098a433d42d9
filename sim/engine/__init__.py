"""One replication of a scenario on simpy: stations, steps, topics, flows and their metrics.

`Replication(scenario, index, seed).run()` builds and runs one replication and returns its
measurements; `run_replication` is the same as a pure, picklable function. See
docs/architecture.md for the life of a request and of a message through these modules.
"""

from sim.engine.replication import Replication, ReplicationRun, run_replication

__all__ = ["Replication", "ReplicationRun", "run_replication"]
