"""`JobEvents` for operators: one INFO line per finished job, and the job metrics.

The line names the job, who asked where, what ran, how long it took and what it cost, never
the prompt. In text logs the fields follow the message as key=value pairs; JSON logs carry
them as keys (`bot.observability.logs`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.config import ModelsSettings
from bot.jobs.records import Job, JobState
from bot.observability.metrics import Metrics

log = logging.getLogger("bot.jobs")

# Outcomes of a run in this process: the time from its start to now is its duration.
_RAN_HERE = frozenset({JobState.DELIVERED, JobState.BLOCKED, JobState.FAILED, JobState.CANCELLED})


class JobReport:
    def __init__(self, metrics: Metrics, models: ModelsSettings) -> None:
        self._metrics = metrics
        self._models = models

    def finished(self, job: Job, *, posted: bool = True) -> None:
        model_s = job.report.elapsed_s if job.report else 0.0
        duration_s = None
        if job.state in _RAN_HERE and job.started_at is not None:
            duration_s = max(time.time() - job.started_at, 0.0)
        fields = self.fields(job, duration_s=duration_s, model_s=model_s, posted=posted)
        text = " ".join(f"{k}={v}" for k, v in fields.items() if k not in ("job", "outcome"))
        log.info("job %s %s: %s", job.id, job.state.value, text, extra={"fields": fields})
        self._metrics.job_finished(job, duration_s=duration_s, model_s=model_s)

    def throttled(self, job: Job) -> None:
        self._metrics.throttled.labels(job.request.model).inc()

    def queue_seen(self, depth: int) -> None:
        self._metrics.queue_depth.set(depth)

    def fields(
        self, job: Job, *, duration_s: float | None, model_s: float, posted: bool
    ) -> dict[str, Any]:
        request = job.request
        info = self._models.catalog.get(request.model)
        fields: dict[str, Any] = {
            "job": job.id,
            "outcome": job.state.value,
            "member": job.user_id,
            "guild": job.guild_id,
            "workflow": request.workflow,
            "kind": job.kind,
            "model": request.model,
            "size": request.image_size or (info.default_size if info else "") or "default",
            "images": len(job.outputs),
            "duration_s": None if duration_s is None else round(duration_s, 2),
            "model_s": round(model_s, 2),
            "cost_usd": round(job.cost_usd, 4),
        }
        if job.state in (JobState.BLOCKED, JobState.FAILED, JobState.INTERRUPTED):
            fields["reason"] = job.error_kind
        if not posted:
            fields["posted"] = False
        return fields
