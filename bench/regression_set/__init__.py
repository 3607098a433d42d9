"""The analysis regression set (issue #15): `models.analyze` against pinned simulations.

The command is bench/analysis_regression.py (its docstring says what the set is, what is
compared and how the scenarios and the reference were made); this package holds its parts,
from the bottom layer up:

- `dataset`: where the set lives (scenario files, reference.json), reading and writing
  them, and which values of a results document are compared;
- `blocks`: the building blocks of a scenario document (`work`, `call`, `service`...) and
  `Shape`, one shape of the set;
- `layered`: the small layered shapes (a-i: three tiers, a chain, a publish, a cache branch,
  a fork-join, two classes, async I/O, a one-thread caller);
- `deathstarbench`, `sock_shop`, `train_ticket`, `alibaba`: the realistic call graphs (j1-j5);
- `shapes`: `SHAPES`, the list of the set's shapes;
- `probe`, `generate`: the scenario files at 60% and 95% of capacity (`--generate`);
- `simulate`, `pilot`: the reference simulations (`--simulate`) and their sizing (`--pilot`);
- `compare`, `report`: analyze against the reference, the table and the JSON (default mode).

Nothing here imports `models` or `sim` at import time: `--sim-root` and `--analysis-root`
put another checkout first on sys.path before the first import.
"""
