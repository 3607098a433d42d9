"""Figures of scenarios and results; the only code that uses matplotlib.

Every function returns a `matplotlib.figure.Figure` (made without pyplot: no backend is
selected, no window opens, no global state or rcParams change) and takes an optional `ax` to
draw into instead, returning that axes' figure. matplotlib is imported inside the functions,
so importing `sim` stays light.

- `latency_curve`: response time percentiles against a swept value (sweeps);
- `latency_cdf`: the distribution of a flow's latency from its summary percentiles;
- `comparison_bars`: a statistic per flow and candidate, with 95% confidence intervals;
- `backlog_over_time`, `throughput_over_time`, `latency_over_time`: time series of a run;
- `topology`: the architecture (the graph is `models.topology.topology_graph`);
- `save_run_figures`: the usual PNG files of a run.
"""

from sim.presentation.plots.architecture import topology
from sim.presentation.plots.latency import comparison_bars, latency_cdf, latency_curve
from sim.presentation.plots.run import png_bytes, run_figures, save_run_figures
from sim.presentation.plots.series import backlog_over_time, latency_over_time, throughput_over_time

__all__ = [
    "backlog_over_time",
    "comparison_bars",
    "latency_cdf",
    "latency_curve",
    "latency_over_time",
    "png_bytes",
    "run_figures",
    "save_run_figures",
    "throughput_over_time",
    "topology",
]
