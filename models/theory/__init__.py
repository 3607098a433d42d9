"""Classic queueing theory as pure functions: single stations, priorities, fork-join, networks.

Units: rates per second, times in seconds, lengths in customers. Every function states its
assumptions, its formula and its source, and never returns a negative or NaN mean: a station
without a steady state comes back with `stable=False` and `math.inf` waiting and queue means.
Invalid arguments raise `ValueError` naming the argument, the rule and the value given.
"""

from models.theory.batch_arrivals import mxmc
from models.theory.erlang import erlang_b, erlang_c
from models.theory.erlang_room import merlang_ck
from models.theory.finite_room import mg1k, mph2ck
from models.theory.fork_join import (
    ForkJoinPrediction,
    fork_join_nelson_tantawi,
    fork_join_two_mm1,
)
from models.theory.general import (
    gg_c_allen_cunneen,
    gi_m1_erlang_arrivals,
    gi_m1_erlang_arrivals_response_time_quantile,
    gi_m1_erlang_arrivals_sigma,
    gi_m1_erlang_arrivals_waiting_time_quantile,
    md1,
    mg1,
    mg1_waiting_second_moment,
)
from models.theory.hyperexponential import mh2c
from models.theory.jackson import JacksonPrediction, jackson_network
from models.theory.markovian import (
    mm1,
    mm1_response_time_quantile,
    mm_infinity,
    mmc,
    mmc_response_time_quantile,
    mmc_response_time_survival,
    mmc_waiting_time_quantile,
    mmck,
)
from models.theory.mmpp import MMPPM1, mmpp_m1
from models.theory.mva import MVAResult, mva_exact, mva_schweitzer
from models.theory.prediction import StationPrediction
from models.theory.priority import (
    PriorityPrediction,
    mg1_priority_nonpreemptive,
    mmc_priority_nonpreemptive,
)
from models.theory.renewal_arrivals import d_m_c, gi_m_c

__all__ = [
    "MMPPM1",
    "ForkJoinPrediction",
    "JacksonPrediction",
    "MVAResult",
    "PriorityPrediction",
    "StationPrediction",
    "d_m_c",
    "erlang_b",
    "erlang_c",
    "fork_join_nelson_tantawi",
    "fork_join_two_mm1",
    "gg_c_allen_cunneen",
    "gi_m1_erlang_arrivals",
    "gi_m1_erlang_arrivals_response_time_quantile",
    "gi_m1_erlang_arrivals_sigma",
    "gi_m1_erlang_arrivals_waiting_time_quantile",
    "gi_m_c",
    "jackson_network",
    "md1",
    "merlang_ck",
    "mg1",
    "mg1_priority_nonpreemptive",
    "mg1_waiting_second_moment",
    "mg1k",
    "mh2c",
    "mm1",
    "mm1_response_time_quantile",
    "mm_infinity",
    "mmc",
    "mmc_priority_nonpreemptive",
    "mmc_response_time_quantile",
    "mmc_response_time_survival",
    "mmc_waiting_time_quantile",
    "mmck",
    "mmpp_m1",
    "mph2ck",
    "mva_exact",
    "mva_schweitzer",
    "mxmc",
]
