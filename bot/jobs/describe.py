"""/describe: a text model reads a member's image and answers with prompts that would make a
similar one; each becomes an Imagine button. Pure.

A describe job is a job like any other (queued, reserved against the quotas, priced, shown
on its message), whose answer is text: a JSON list of prompts, kept in its report.
"""

from __future__ import annotations

import json

from bot.config import Settings
from bot.jobs.records import Job, JobRequest

PROMPT_COUNT = 4
WORKFLOW = "describe"
INSTRUCTION = (
    f"Write {PROMPT_COUNT} different prompts for an image generator that would make an image "
    "like this one. Each prompt is one paragraph of at most 60 words: the subject, the "
    "setting, the composition, the light, the colours and the medium or style. Vary what each "
    "prompt stresses. Answer with the prompts only."
)
# Tokens a describe answer may take, thinking included, for the estimate (it errs high).
OUTPUT_TOKENS_AT_MOST = 4000
PROMPT_MAX_CHARS = 1000


def describe_request(settings: Settings) -> JobRequest:
    return JobRequest(
        prompt=INSTRUCTION,
        model=settings.models.describe,
        workflow=WORKFLOW,
        redo=False,
        response_modalities=("TEXT",),
        thinking_level="LOW",  # reading an image needs little; thinking is billed as output
        prompts=PROMPT_COUNT,
    )


def answer_schema(count: int) -> dict[str, object]:
    """The JSON Schema the model's answer follows (structured output)."""
    return {
        "type": "array",
        "items": {"type": "string"},
        "minItems": count,
        "maxItems": count,
    }


def parse_prompts(text: str) -> list[str]:
    """The prompts in the model's answer: a JSON list of strings, else one per line."""
    try:
        found = json.loads(text)
    except ValueError:
        found = [line.lstrip("0123456789.-) ") for line in text.splitlines()]
    if not isinstance(found, list):
        return []
    prompts = [" ".join(str(item).split()) for item in found if str(item).strip()]
    return [prompt[:PROMPT_MAX_CHARS] for prompt in prompts]


def prompts_of(job: Job) -> list[str]:
    return parse_prompts(job.report.text) if job.report else []
