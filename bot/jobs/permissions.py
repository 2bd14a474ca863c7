"""Who may do what with a job. Pure.

Destructive actions (Delete, Cancel) are for the job's owner and members who can manage
messages; changes to a conversation follow `[conversations] who_can_refine`; a pending job
(a briefing) is its owner's alone. Anyone may branch a result or imagine a /describe prompt:
what that makes is theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.jobs.display import Action
from bot.jobs.records import Job, JobState

WhoCanRefine = Literal["owner", "anyone"]
# Actions whose result belongs to whoever presses (a branch, an image of a /describe prompt).
_OWN_WORK = frozenset({Action.BRANCH, Action.IMAGINE})


@dataclass(frozen=True)
class Actor:
    """A member acting on the bot's messages."""

    user_id: int
    manages_messages: bool = False
    role_ids: frozenset[int] = frozenset()  # for `[access] role_ids` and role quotas


def refusal(
    actor: Actor, action: Action, job: Job, owner_id: int, who_can_refine: WhoCanRefine
) -> str | None:
    """Why `actor` may not do `action` on `job` (whose conversation `owner_id` owns); None
    when they may."""
    if actor.user_id == owner_id or action in _OWN_WORK:
        return None
    if action in (Action.DELETE, Action.CANCEL) and job.state is not JobState.PENDING:
        if actor.manages_messages:
            return None
        verb = "delete" if action is Action.DELETE else "cancel"
        return f"Only the person who asked for this image can {verb} it."
    if job.state is JobState.PENDING:
        return f"Only <@{owner_id}> can start or change this request."
    if who_can_refine == "anyone":
        return None
    return f"Only <@{owner_id}> can change this image. Start your own with /imagine."


def may_refine_in_thread(author_id: int, owner_id: int, who_can_refine: WhoCanRefine) -> bool:
    """Thread messages from others are ignored silently, so people can chat freely."""
    return who_can_refine == "anyone" or author_id == owner_id
