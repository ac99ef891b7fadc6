"""The bounds on one simulation, apart from `simulate` so that the command line can show their defaults cheaply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class WalkLimits:
    """Bounds on one simulation (engine settings, not policy values; see SECURITY.md).

    A walk that reaches one stops short of the next evaluation: its last entry
    is the last evaluation made, and its summary says `ended: evaluation_limit`
    or `ended: time_limit`.
    """

    max_evaluations: int = 10_000_000
    """The most evaluations one walk makes (price points and retries together)."""
    time_limit: timedelta | None = None
    """The longest a walk runs, from its start; None: no bound on time beyond `max_evaluations`."""


DEFAULT_WALK_LIMITS = WalkLimits()
