"""The shapes of the analysis regression set (`SHAPES`), each at two loads in the files.

The name of a shape is the stem of its files (``<name>_60``, ``<name>_95``); its
description goes into their header comments, with how a closed shape's clients or a
shape's capacity were calibrated by simulation.
"""

from __future__ import annotations

from .alibaba import alibaba_like
from .blocks import Shape
from .deathstarbench import hotel_reservation, social_network
from .layered import (
    async_io,
    async_publish,
    cache_branch,
    fork_join,
    forwarding_chain,
    one_thread_caller,
    three_tier_closed,
    three_tier_open,
    two_classes,
)
from .sock_shop import sock_shop
from .train_ticket import train_ticket

SHAPES: list[Shape] = [
    Shape(
        "a_three_tier_open",
        "open three-tier: web (2 x 16 threads) -> app (2 x 6 threads, "
        "random balancing) -> db (4 shared workers), blocking calls, exponential and lognormal "
        "work, a 15% write branch",
        three_tier_open,
    ),
    Shape(
        "b_three_tier_closed",
        "closed three-tier: clients thinking 50 ms (exponential) -> "
        "web (8 threads) -> app (2 x 3 shared threads) -> db (2 workers, lognormal)",
        three_tier_closed,
        closed=True,
        clients=(12, 23),
        calibration="the simulated utilization of db is 0.59 with 12 clients (the analysis "
        "predicts 0.60) and 0.91, 0.965, 0.99 with 21, 24, 27 clients (the analysis: 0.964 "
        "with 21): 23 clients for about 0.95",
    ),
    Shape(
        "c_forwarding_chain",
        "forwarding chain of 5 services with blocking calls: edge (32) "
        "-> auth (16) -> orders (2 x 6 shared) -> pricing (8) -> ledger (2 workers)",
        forwarding_chain,
    ),
    Shape(
        "d_async_publish",
        "async publish: front (4 workers) publishes every request to a "
        "queue topic (group of 2 x 3 consumers calling a 2-worker db) and a 6-partition log "
        "topic with two groups (4 consumers: two of them own two partitions; 3 x 2 = 6 "
        "consumers)",
        async_publish,
    ),
    Shape(
        "e_cache_branch",
        "cache branch: api (32 threads) calls a cache (2 workers); 80% hit, "
        "20% miss -> db (4 workers, lognormal 15 ms) then cache set",
        cache_branch,
    ),
    Shape(
        "f_fork_join",
        "fork-join: api (48 threads) calls inventory (M/M/1), pricing (2 "
        "workers, lognormal) and reviews (1 worker, gamma) in parallel, then works",
        fork_join,
    ),
    Shape(
        "g_two_classes",
        "two classes: browse (1 read) and checkout (1 read, 2 writes) flows "
        "through web (2 x 16 shared threads) sharing a 2-worker database (reads exponential "
        "2 ms, writes lognormal 6 ms)",
        two_classes,
    ),
    Shape(
        "h_async_io",
        "async I/O (blocking_calls: false): gateway (2 workers: work, call, "
        "work) -> catalog (2 workers: work, call db, work, call cache) -> db (4 workers), "
        "cache (1 worker)",
        async_io,
    ),
    Shape(
        "i_one_thread_caller",
        "a one-thread caller (exponential 2 ms, then a blocking "
        "call) of a one-server callee (lognormal 3 ms, cv 1): the caller is M/G/1 exactly, "
        "the callee never queues",
        one_thread_caller,
    ),
    Shape("j1_social_network", "DeathStarBench-like social network", social_network),
    Shape(
        "j2_hotel_reservation",
        "DeathStarBench-like hotel reservation (Go, async I/O)",
        hotel_reservation,
    ),
    Shape("j3_sock_shop", "Sock Shop-like: a queue topic and a log topic", sock_shop),
    Shape("j4_train_ticket", "TrainTicket-like: deep synchronous fan-out", train_ticket),
    Shape(
        "j5_alibaba_random",
        "Alibaba-trace-like random call graph (seed 15)",
        alibaba_like,
        capacity_scale=1.14,
        calibration="at 95% of the analysis' capacity the simulated busiest pool, entry-3, "
        "was only at 0.66; at 1.15, 1.22 and 1.3 times that rate at 0.85, 0.96 and "
        "saturated: the capacity is taken as 1.2 x 0.95 = 1.14 x the analysis'",
    ),
]
