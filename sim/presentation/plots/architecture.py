"""The topology picture: clients, services and topics, requests flowing left to right.

The graph is `models.topology.topology_graph`; here it is only laid out and drawn. Nodes are
labelled boxes (clients as arrows, services rounded, topics square: log orange, queue
green); arrows are clipped to the boxes. Edge styles: entry and synchronous call solid,
publish dashed, delivery to a consumer group dotted and labelled with the group's operation.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models.topology import topology_graph
from sim.presentation.plots._common import new_axes

if TYPE_CHECKING:
    import networkx as nx
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.text import Text
    from matplotlib.typing import LineStyleType

    from models.schema import Scenario


@dataclass(frozen=True)
class NodeStyle:
    """How a kind of node is drawn and named in the legend."""

    legend: str
    boxstyle: str
    facecolor: str
    edgecolor: str


@dataclass(frozen=True)
class EdgeStyle:
    """How a kind of edge is drawn and named in the legend."""

    legend: str
    linestyle: LineStyleType
    color: str


NODE_STYLES = {
    "flow": NodeStyle("client (flow)", "rarrow,pad=0.35", "#e0e0e0", "0.35"),
    "service": NodeStyle("service (replicas × workers)", "round,pad=0.45", "#c6dbef", "#08519c"),
    "log": NodeStyle("log topic (partitions)", "square,pad=0.45", "#fdd0a2", "#a63603"),
    "queue": NodeStyle("queue topic", "square,pad=0.45", "#c7e9c0", "#006d2c"),
}
EDGE_STYLES = {
    "entry": EdgeStyle("request (entry operation)", "-", "0.3"),
    "call": EdgeStyle("synchronous call", "-", "#08519c"),
    "publish": EdgeStyle("publish", "--", "#a63603"),
    "deliver": EdgeStyle("delivery to a consumer group", ":", "#006d2c"),
}
LAYER_WIDTH_INCHES = 1.75
ROW_HEIGHT_INCHES = 1.0


def topology(scenario: Scenario, *, ax: Axes | None = None) -> Figure:
    """Draw the architecture of `scenario` (see `models.topology.topology_graph`)."""
    graph = topology_graph(scenario)
    positions = layered_positions(graph)
    layers = max((x for x, _ in positions.values()), default=0.0) + 1
    rows = max(_layer_sizes(graph).values(), default=1)
    figure, ax = new_axes(
        ax,
        figsize=(
            max(7.0, 1.5 + LAYER_WIDTH_INCHES * layers),
            max(4.0, 2.2 + ROW_HEIGHT_INCHES * rows),
        ),
    )
    boxes = {node: _draw_node(ax, graph.nodes[node], positions[node]) for node in graph.nodes}
    pairs = {(source, target) for source, target in graph.edges}
    for source, target, data in graph.edges(data=True):
        style = EDGE_STYLES[data["kind"]]
        if source == target:
            boxes[source].set_text(f"{boxes[source].get_text()}\n↻ {data.get('label', '')}")
            continue
        bend = 0.2 if (target, source) in pairs else 0.0
        ax.annotate(
            "",
            xy=positions[target],
            xytext=positions[source],
            arrowprops={
                "arrowstyle": "-|>,head_length=0.6,head_width=0.3",
                "linestyle": style.linestyle,
                "color": style.color,
                "linewidth": 1.3,
                "patchA": boxes[source].get_bbox_patch(),
                "patchB": boxes[target].get_bbox_patch(),
                "shrinkA": 1.0,
                "shrinkB": 1.0,
                "connectionstyle": f"arc3,rad={bend}",
            },
            zorder=2,
        )
        if data.get("label"):
            _draw_edge_label(ax, positions[source], positions[target], bend, data, style)
    ax.set_xlim(-0.6, layers - 0.4)
    ax.set_ylim(-rows / 2 - 0.1, rows / 2 + 0.1)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("requests and messages flow left to right →")
    ax.set_title(f"Topology: {scenario.name}")
    _legend(ax, graph)
    return figure


def layered_positions(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """x = the node's ``layer``; in each layer nodes are ordered by the mean height of their
    predecessors already placed (barycenter heuristic, fewer crossings) and centred on 0.

    >>> import networkx as nx
    >>> g = nx.DiGraph([("f", "a"), ("f", "b")])
    >>> nx.set_node_attributes(g, {"f": 0, "a": 1, "b": 1}, "layer")
    >>> layered_positions(g)
    {'f': (0.0, 0.0), 'a': (1.0, 0.5), 'b': (1.0, -0.5)}
    """
    by_layer: dict[int, list[str]] = defaultdict(list)
    for node, layer in graph.nodes(data="layer", default=0):
        by_layer[int(layer)].append(node)
    positions: dict[str, tuple[float, float]] = {}
    for layer in sorted(by_layer):
        nodes = by_layer[layer]
        start = (len(nodes) - 1) / 2
        heights = []
        for index, node in enumerate(nodes):
            placed = [positions[p][1] for p in graph.predecessors(node) if p in positions]
            heights.append(sum(placed) / len(placed) if placed else start - index)
        ordered = sorted(range(len(nodes)), key=lambda index: (-heights[index], index))
        for row, index in enumerate(ordered):
            positions[nodes[index]] = (float(layer), start - row)
    return {node: positions[node] for node in graph.nodes}


def _layer_sizes(graph: nx.DiGraph) -> dict[int, int]:
    sizes: dict[int, int] = defaultdict(int)
    for _, layer in graph.nodes(data="layer", default=0):
        sizes[int(layer)] += 1
    return sizes


def _node_style(data: dict[str, Any]) -> NodeStyle:
    if data["kind"] == "topic":
        return NODE_STYLES[data["topic_type"]]
    return NODE_STYLES[data["kind"]]


def _node_text(data: dict[str, Any]) -> str:
    name = str(data["label"])
    if data["kind"] == "flow":
        if data.get("clients") is not None:
            return f"{name}\n{data['clients']} clients"
        if data.get("rate") is not None:
            return f"{name}\n{data['rate']:g} req/s"
        return name
    if data["kind"] == "service":
        workers = "∞" if data["workers"] == "unlimited" else data["workers"]
        return f"{name}\n{data['replicas']} × {workers}"
    if data["topic_type"] == "log":
        partitions = data["partitions"]
        return f"{name}\nlog, {partitions} partition{'s' if partitions != 1 else ''}"
    return f"{name}\nqueue"


def _draw_node(ax: Axes, data: dict[str, Any], position: tuple[float, float]) -> Text:
    style = _node_style(data)
    return ax.text(
        position[0],
        position[1],
        _node_text(data),
        ha="center",
        va="center",
        multialignment="center",
        fontsize=9,
        zorder=3,
        bbox={
            "boxstyle": style.boxstyle,
            "facecolor": style.facecolor,
            "edgecolor": style.edgecolor,
            "linewidth": 1.2,
        },
    )


def _draw_edge_label(
    ax: Axes,
    source: tuple[float, float],
    target: tuple[float, float],
    bend: float,
    data: dict[str, Any],
    style: EdgeStyle,
) -> None:
    """The label at the middle of the (possibly bent) arrow: a quadratic Bezier's midpoint
    lies half the bend away from the chord's midpoint, perpendicular to it."""
    (x0, y0), (x1, y1) = source, target
    x = (x0 + x1) / 2 + bend / 2 * (y1 - y0)
    y = (y0 + y1) / 2 - bend / 2 * (x1 - x0)
    text = str(data["label"])
    if data["kind"] == "deliver" and data.get("consumers", 1) > 1:
        text = f"{text} · {data['consumers']} consumers"
    ax.text(
        x,
        y,
        text,
        ha="center",
        va="center",
        fontsize=7.5,
        color=style.color,
        zorder=4,
        bbox={
            "boxstyle": "round,pad=0.15",
            "facecolor": "white",
            "edgecolor": "none",
            "alpha": 0.85,
        },
    )


def _legend(ax: Axes, graph: nx.DiGraph) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    node_kinds = {
        "queue"
        if data.get("topic_type") == "queue"
        else "log"
        if data["kind"] == "topic"
        else data["kind"]
        for _, data in graph.nodes(data=True)
    }
    edge_kinds = {kind for _, _, kind in graph.edges(data="kind")}
    handles: list[Any] = [
        Patch(facecolor=style.facecolor, edgecolor=style.edgecolor, label=style.legend)
        for kind, style in NODE_STYLES.items()
        if kind in node_kinds
    ]
    handles += [
        Line2D(
            [], [], linestyle=style.linestyle, color=style.color, linewidth=1.5, label=style.legend
        )
        for kind, style in EDGE_STYLES.items()
        if kind in edge_kinds
    ]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.08),
        ncols=min(3, len(handles)),
        fontsize="small",
        frameon=False,
    )
