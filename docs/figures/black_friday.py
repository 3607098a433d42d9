"""The README's Black Friday figure: p99 per interval of the fixed and the autoscaled
storefront (same random numbers), and the autoscaled replicas, for the replication with the
most bursts. Run from the repository root: ``python3 docs/figures/black_friday.py``."""

from matplotlib.figure import Figure

from models import load_scenario
from sim import simulate

SCENARIO = "scenarios/black_friday.yaml"
CANDIDATES = {"fixed, 3 replicas": None, "autoscaled": "autoscaled"}


def main() -> None:
    """Simulate both candidates (3 replications each) and write black_friday.png."""
    frames = {
        name: simulate(load_scenario(SCENARIO, variant=variant), replications=3).timeseries()
        for name, variant in CANDIDATES.items()
    }
    fixed = frames["fixed, 3 replicas"]
    busiest = max(
        range(3), key=lambda i: fixed[fixed.replication == i].query("metric == 'p99'").value.mean()
    )
    figure = Figure(figsize=(9.0, 7.0), layout="constrained")
    upper, lower = figure.subplots(2, 1, sharex=True)
    for name, frame in frames.items():
        frame = frame[frame.replication == busiest]
        p99 = frame[(frame.kind == "flow") & (frame.metric == "p99")]
        upper.plot(p99.time / 60, p99.value * 1000, label=name)
        replicas = frame[(frame.kind == "service") & (frame.metric == "replicas")]
        if len(replicas):
            lower.step(
                replicas.time / 60, replicas.value, where="post", label="replicas (autoscaled)"
            )
        throughput = frame[(frame.kind == "flow") & (frame.metric == "throughput")]
    right = lower.twinx()
    right.plot(
        throughput.time / 60, throughput.value, color="0.6", linewidth=0.8, label="requests/s"
    )
    upper.set_title(
        f"Black Friday bursts (replication {busiest + 1} of 3, the one with the most bursts; "
        f"same random numbers)"
    )
    upper.set_ylabel("p99 per 10 s interval (ms)")
    lower.set_ylabel("replicas")
    right.set_ylabel("throughput (requests/s)")
    lower.set_xlabel("time since start (min)")
    for ax in (upper, lower):
        ax.grid(alpha=0.3)
    upper.legend()
    lower.legend(loc="upper left")
    right.legend(loc="upper right")
    figure.savefig("docs/figures/black_friday.png", dpi=100)


if __name__ == "__main__":
    main()
