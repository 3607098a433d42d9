"""The stretches of own work between the releases of an async-I/O worker (`blocking_calls:
false`): what each acquisition holds the worker for.

A worker that is let go at each call and acquired again at its reply holds it for one
segment each time: the work from an acquisition to the next call (or the end). Its
holding time per acquisition is the mixture of the segments, so the pool needs the sum of
their second moments, E[sum over segments of T^2], over the operation's outcomes.

Branches make the segments themselves depend on the outcome: `work; branch(call | work);
work` holds the worker once for all three pieces of work where the branch works, and twice
(the first piece; the last) where it calls. The segment under way is kept as moments over
the outcomes that reach it, not normalised (m0 = P(under way here), m1 = E[T; under way],
m2 = E[T^2; under way]), so that each branch option carries its share and the options
add up after it: work X gives (m0, m1 + m0 E[X], m2 + 2 m1 E[X] + m0 E[X^2]) (X
independent of the time so far), a call made with probability q ends q of it and starts a
new one of no time yet. Exact for sequences and branches; parallel branches are taken one
after the other, a failure ends the segment (its execution ends there).
"""

from __future__ import annotations

from dataclasses import dataclass

from models.analysis.moments import Moments


@dataclass
class Segments:
    """The segment under way and the finished ones' second moments (see the module)."""

    mass: float = 1.0
    """m0: the probability that the walk is under way here (and so is a segment)."""
    first: float = 0.0
    """m1: E[T; under way], T the segment's time so far."""
    second: float = 0.0
    """m2: E[T^2; under way]."""
    finished: float = 0.0
    """E[sum of T^2 over the segments that ended]."""

    def work(self, moments: Moments) -> None:
        """The segment goes on through an independent piece of work."""
        mean, square = moments.mean, moments.variance + moments.mean**2
        self.second += 2.0 * self.first * mean + self.mass * square
        self.first += self.mass * mean

    def release(self, made: float, resumed: float) -> None:
        """A call made with probability `made` lets the worker go, which `resumed` of those
        come back to acquire again (a new segment, no time yet)."""
        self.finished += made * self.second
        kept = 1.0 - made
        self.first, self.second = kept * self.first, kept * self.second
        self.mass = kept * self.mass + made * resumed * self.mass

    def end(self, fail: float) -> None:
        """The execution ends here with probability `fail` (the segment with it)."""
        self.finished += fail * self.second
        kept = 1.0 - fail
        self.mass, self.first, self.second = kept * self.mass, kept * self.first, kept * self.second

    def split(self, share: float) -> Segments:
        """The segment under way in a branch option taken with probability `share`."""
        return Segments(share * self.mass, share * self.first, share * self.second)

    def join(self, options: list[Segments]) -> None:
        """After a branch: the options' segments under way, and what they finished."""
        self.mass = sum(option.mass for option in options)
        self.first = sum(option.first for option in options)
        self.second = sum(option.second for option in options)
        self.finished += sum(option.finished for option in options)

    def total(self) -> float:
        """E[sum of T^2] over every segment, the one under way at the end included."""
        return self.finished + self.second
