"""The job state machine: which state may follow which. Pure.

Every change of a job's state is one store call that succeeds only from the expected state
(compare-and-set), so two clicks, two processes or a late form find the job already moved and
are told so. A transition not in this table is a bug and raises.

    pending ──► queued ──► running ──► delivered
       │          │  ▲        ├──────► blocked ─────┐
       │          │  │        ├──────► failed ──────┤ Retry / Edit prompt
       ▼          ▼  │        ├──────► interrupted ─┤ (back to queued)
    cancelled ◄───┴──┼────────┘                     │
       │             └──────────────────────────────┘
       └──── Retry ──► queued
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.jobs.records import JobState

S = JobState

ALLOWED: dict[JobState, frozenset[JobState]] = {
    S.PENDING: frozenset({S.QUEUED, S.CANCELLED}),
    S.QUEUED: frozenset({S.RUNNING, S.CANCELLED}),
    # Back to queued: a shutdown that could not wait for the model puts the job back in line.
    S.RUNNING: frozenset({S.DELIVERED, S.BLOCKED, S.FAILED, S.CANCELLED, S.INTERRUPTED, S.QUEUED}),
    S.DELIVERED: frozenset(),
    S.BLOCKED: frozenset({S.QUEUED}),
    S.FAILED: frozenset({S.QUEUED}),
    S.INTERRUPTED: frozenset({S.QUEUED}),
    S.CANCELLED: frozenset({S.QUEUED}),
}

# States from which Retry (and Edit prompt, with a new prompt) put a job back in line.
RETRYABLE = frozenset(state for state, nexts in ALLOWED.items() if S.QUEUED in nexts) - {
    S.PENDING,
    S.RUNNING,
}


class IllegalTransitionError(RuntimeError):
    """A state change the machine does not allow: a bug in the caller, never a race."""


def check_transition(sources: Iterable[JobState], target: JobState) -> None:
    for source in sources:
        if target not in ALLOWED[source]:
            raise IllegalTransitionError(f"a job cannot go from {source} to {target}")
