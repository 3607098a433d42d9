"""Terminal tables of an import (rich): what `archsim import traces` fitted and measured."""

from __future__ import annotations

from rich.console import Console

from models.traces.building import TraceImport
from sim.presentation.formatting import MILLISECONDS as MS
from sim.presentation.formatting import new_table, number, significant


def render_import(result: TraceImport, console: Console) -> None:
    """The fitted times (one row per operation's work, call's delay, external wait) and the
    flows, under a line saying what was read."""
    files = ", ".join(f"{item.path} ({item.format})" for item in result.read.files)
    console.print(
        f"{len(result.read.spans):,} spans in {result.traces:,} traces read from {files}",
        highlight=False,
    )
    fits = new_table(
        "Fitted times (ms)",
        ("where", "what", "count", "mean", "cv", "family", "KS p"),
        left=("where", "what", "family"),
        caption="KS p: Kolmogorov-Smirnov p-value of the written distribution (parameters "
        "fitted to the same data: conservative); constant and empirical have none",
    )
    for row in result.fits:
        fit = row.fit
        fits.add_row(
            row.where,
            row.what,
            f"{fit.count:,}",
            significant(fit.mean, MS),
            number(fit.cv),
            fit.family,
            "-" if fit.p_value is None else f"{fit.p_value:.3g}",
        )
    console.print(fits)
    flows = new_table("Flows", ("flow", "body", "requests", "rate/s"), left=("flow", "body"))
    for flow in result.flows:
        flows.add_row(flow.name, flow.body, f"{flow.requests:,}", significant(flow.rate))
    console.print(flows)
