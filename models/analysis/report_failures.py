"""What a scenario with failures adds to the prediction (`models.analysis.prediction`),
from the network solution: the `calls` table (`calls_report`: per caller and called
operation, the resilient calls, attempts, retries, success rate and fallbacks per second)
and the warnings naming what the prediction approximates or leaves out
(`failure_warnings`). The `faults` list is predicted by `models.analysis.outages`.
"""

from __future__ import annotations

from collections.abc import Mapping

from models.analysis.failures import rejected_fraction
from models.analysis.network import NetworkSolution
from models.analysis.prediction import PredictedCall
from models.analysis.report_stations import executions
from models.references import walk_steps
from models.resilience import REASONS
from models.results import Failures
from models.schema import CallSpec, CallStep, Scenario


def calls_report(solution: NetworkSolution) -> dict[str, PredictedCall]:
    """The `calls` table: per caller and called operation, the resilient calls per second
    (every execution of the caller's operations that makes them, all priorities)."""
    rows: dict[str, dict[str, float]] = {}
    exact: dict[str, bool] = {}
    notes: dict[str, set[str]] = {}
    reasons: dict[str, dict[str, float]] = {}
    for key in solution.keys:
        summary = solution.summaries[key]
        rate = executions(solution, key)
        if not summary.tallies or rate <= 0:
            continue
        caller = key.operation if key.kind == "handler" else key.name
        for target, tally in summary.tallies.items():
            label = f"{caller}->{target.name}.{target.operation}"
            row = rows.setdefault(label, dict.fromkeys(("calls", "attempts", "failed", "q"), 0.0))
            row["calls"] += rate * tally.calls
            row["attempts"] += rate * tally.attempts
            row["failed"] += rate * tally.failed
            row["fallbacks"] = row.get("fallbacks", 0.0) + rate * tally.fallbacks
            row["q"] += rate * tally.attempts * tally.attempt_fail
            failures = reasons.setdefault(label, dict.fromkeys(REASONS, 0.0))
            for reason, count in tally.failures.items():
                failures[reason] += rate * count
            exact[label] = exact.get(label, True) and tally.exact
            notes.setdefault(label, set()).update(tally.notes)
    result = {}
    for label in sorted(rows):
        row = rows[label]
        calls, attempts = row["calls"], row["attempts"]
        method = "; ".join(
            [
                "retries: truncated geometric series of independent attempts (on the spot, "
                "a refusal's retries refused too)",
                *sorted(notes[label]),
            ]
        )
        result[label] = PredictedCall(
            calls=calls,
            attempts=attempts,
            retries=max(attempts - calls, 0.0),
            failures=Failures(**reasons[label]),
            attempt_failure=row["q"] / attempts if attempts > 0 else 0.0,
            success_rate=1.0 - row["failed"] / calls if calls > 0 else 1.0,
            fallbacks=row.get("fallbacks", 0.0),
            method=method,
            exact=exact[label],  # (false wherever a note names an approximation)
        )
    return result


def _call_specs(scenario: Scenario) -> list[tuple[str, CallSpec]]:
    """Every call step with its caller (the calling service, or the flow)."""
    bodies = [
        (name, steps) for name, s in scenario.services.items() for steps in s.operations.values()
    ]
    bodies += [(name, flow.body()) for name, flow in scenario.workload.items()]
    return [
        (caller, step.call)
        for caller, steps in bodies
        for _, step in walk_steps(steps, "")
        if isinstance(step, CallStep)
    ]


def failure_warnings(
    scenario: Scenario, solution: NetworkSolution, calls: Mapping[str, PredictedCall]
) -> list[str]:
    """What the prediction of a scenario with failures approximates or leaves out."""
    warnings = []
    failures = solution.failures
    if scenario.faults:
        warnings.append(
            "faults make the run non-stationary (windows) or its capacity vary (crashes): "
            "the steady-state means are approximations (exact: false); the `faults` list "
            "predicts each fault's backlog peak and recovery by a fluid model"
        )
    for name, faults in failures.services.items():
        if faults.errors > 0:
            warnings.append(
                f"service '{name}': its `errors` faults are time-averaged over the measured "
                f"period in the steady-state model ({faults.errors:.4g} per operation); "
                f"success rates weight each window by its length"
            )
        if faults.availability < 1.0:
            warnings.append(
                f"service '{name}': each replica is up A = mtbf / (mtbf + mttr) = "
                f"{faults.availability:.4g} of the time (alternating renewal process); its "
                f"capacity is taken as replicas x A x workers (a time average)"
            )
    for name, service in scenario.services.items():
        limit = service.rate_limit
        offered = solution.offered.get(name, 0.0)
        if limit is not None and offered > 0:
            rejected = rejected_fraction(offered, limit.rate, limit.burst)
            how = (
                "a bucket of 1: lambda R / (lambda + R), exact for Poisson arrivals"
                if limit.burst == 1
                else f"the long-run bound min(offered, rate); approximate: Poisson bursts "
                f"beyond the bucket of {limit.burst} are rejected below the rate too"
            )
            warnings.append(
                f"service '{name}': its rate limit admits {offered * (1.0 - rejected):.4g}/s "
                f"of the {offered:.4g}/s offered ({rejected:.2%} rejected; {how})"
            )
        if service.queue_timeout is not None:
            warnings.append(
                f"service '{name}': `queue_timeout` is not modelled (no request leaves the "
                f"waiting room)"
            )
    specs = _call_specs(scenario)
    if any(spec.timeout is not None for _, spec in specs):
        warnings.append(
            "calls with a timeout: P(timeout) is read from the callee's response time (its "
            "row of `calls` says how: from the law of its wait and work, of its work, or a "
            "gamma fit of its mean and variance; retries after timeouts are approximate)"
        )
    seen: set[str] = set()
    for caller, spec in specs:
        breaker = spec.circuit_breaker
        if breaker is None:
            continue
        operation, _ = scenario.operation(spec.service, spec.operation)
        label = f"{caller}->{spec.service}.{operation}"
        if label in seen:
            continue
        seen.add(label)
        row = calls.get(label)
        q = row.attempt_failure if row is not None else 0.0
        verdict = (
            "at or above its failure_rate: it would open, and calls would fail at once "
            "while it is open"
            if q >= breaker.failure_rate
            else "below its failure_rate: it should stay closed in steady state"
        )
        warnings.append(
            f"circuit breaker of '{label}' is not modelled (as if always closed); the "
            f"predicted attempt failure {q:.4g} is {verdict}"
        )
    if any(spec.bulkhead is not None for _, spec in specs):
        warnings.append("bulkheads are not modelled (no call is rejected by them)")
    if any(
        subscriber.max_attempts > 1 or subscriber.dead_letter is not None
        for topic in scenario.topics.values()
        for subscriber in topic.subscribers.values()
    ):
        warnings.append(
            "message retries: (1 - p^m) / (1 - p) handler runs per message and p^m dead "
            "letters (independent failures); waiting, sojourn and lag with retries are "
            "approximate (a log topic's consumer is held during the backoff)"
        )
    return warnings
