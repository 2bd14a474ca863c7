"""The request of a job derived from a finished one (Reroll, Vary style, Upscale, Refine). Pure.

What each builds on, decided here once:
- Reroll and Vary style: the same request in the same context the job had (its uploads
  again, the history that led to it).
- Upscale: the job's image alone, at the model's next size.
- Refine: the job's image with what should change; if that image is the conversation's
  current one, the edit follows the conversation (queued behind edits in progress, it sees
  them); otherwise it branches from that image. Never the original uploads again.
- Vary (V1-V4): one of several images alone, as many new variations of it as the job made.
- Imagine (on /describe's answer): one of its prompts as a new /imagine, with the defaults
  and the shape of the image described.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.errors import InputError
from bot.jobs import describe
from bot.jobs.display import Action, Offer
from bot.jobs.pricing import estimate_usd
from bot.jobs.records import Basis, Conversation, Job, JobRequest
from bot.styles import STYLES, apply_style

UPSCALE_PROMPT = (
    "Recreate this exact image at a higher resolution. Keep the composition, subjects, "
    "colours, text and style identical; only add fine detail and sharpness."
)
# A variation keeps what the image shows; the description it was made from follows.
VARY_PROMPT = (
    "Make a new variation of this image: keep its subject, composition and style, and vary "
    "the details. It was made from this description: "
)
_STYLE_KEYS = {style.key for style in STYLES}
REDO_ACTIONS = (
    Action.REROLL,
    Action.STYLE,
    Action.UPSCALE,
    Action.REFINE,
    Action.VARY,
    Action.IMAGINE,
    Action.UPSCALE_FAITHFUL,
    Action.ANIMATE,
)
FAITHFUL_UPSCALE_PROMPT = "Upscale (faithful): the same image with more pixels"
# What a request built on a result's image drops: its uploads and saved references (and
# the hints naming them), which that image already shows.
_WITHOUT_INPUTS: dict[str, object] = {
    "input_images": (),
    "references": (),
    "left_out": (),
    "hints": "",
}


@dataclass(frozen=True)
class Redo:
    request: JobRequest
    kind: str


def derive(
    action: Action,
    job: Job,
    conversation: Conversation | None,
    value: str | None,
    settings: Settings,
) -> Redo:
    """The new job's request; InputError when the action cannot apply to this job."""
    if action is Action.IMAGINE:
        return Redo(_imagined(job, value, settings), "imagine")
    request = _runnable(job.request, settings)
    if action in (Action.REROLL, Action.STYLE):
        if action is Action.STYLE:
            if value not in _STYLE_KEYS:
                raise InputError("That style is not offered any more; pick another one.")
            request = request.model_copy(update={"prompt": apply_style(request.prompt, value)})
        return Redo(same_context(request, job), action.value)
    if job.result_image is None:
        raise InputError("This result has no image to work on any more.")
    if action is Action.VARY:
        described = request.prompt.removeprefix(VARY_PROMPT)  # a variation of a variation
        update = {"prompt": VARY_PROMPT + described, "parent_output": output_index(job, value)}
        plain = request.model_copy(update=_WITHOUT_INPUTS)
        return Redo(_on(plain, Basis.IMAGE, job.id, **update), "vary")
    edit = request.model_copy(update={**_WITHOUT_INPUTS, "count": 1})
    if action is Action.ANIMATE:
        return Redo(_animation(edit, job, value, settings), "animate")
    if action is Action.UPSCALE_FAITHFUL:
        if not settings.upscale.faithful_model:
            raise InputError("Upscale (faithful) is not offered any more.")
        faithful = _vertex_only(
            edit,
            prompt=FAITHFUL_UPSCALE_PROMPT,
            model=settings.upscale.faithful_model,
            call="upscale",
            image_size=settings.upscale.factor,
        )
        return Redo(_on(faithful, Basis.IMAGE, job.id), "upscale (faithful)")
    if action is Action.UPSCALE:
        bigger = upscale_size(settings, edit.model, edit.image_size)
        if bigger is None:
            raise InputError("This image is already at the largest size the model offers.")
        update = {"prompt": UPSCALE_PROMPT, "image_size": bigger, "parent_output": job.chosen}
        return Redo(_on(edit, Basis.IMAGE, job.id, **update), "upscale")
    if action is not Action.REFINE or not value:
        raise ValueError(f"{action} is not a redo action")
    head = (conversation.head_job, conversation.head_candidate) if conversation else None
    if head == (job.id, job.chosen):
        return Redo(_on(edit, Basis.CONVERSATION, None, prompt=value), "refine")
    return Redo(_on(edit, Basis.AFTER, job.id, prompt=value, parent_output=job.chosen), "refine")


def _animation(edit: JobRequest, job: Job, motion: str | None, settings: Settings) -> JobRequest:
    """A video of the job's image: the motion the member described, the length and the
    resolution the catalog sets for Animate, portrait or landscape as the image is."""
    model = settings.video.model
    if not model:
        raise InputError("Animate is not offered any more.")
    if not motion or not motion.strip():
        raise InputError("Describe what should move (the motion, the camera).")
    info = settings.models.info(model)
    portrait = _is_portrait(edit.aspect_ratio)
    ratio = next((r for r in info.aspect_ratios if _is_portrait(r) == portrait), None)
    animation = _vertex_only(
        edit,
        prompt=motion.strip(),
        model=model,
        call="animate",
        aspect_ratio=ratio or (info.aspect_ratios[0] if info.aspect_ratios else None),
        image_size=info.default_size or None,
        duration_s=info.default_duration_s,
        audio=info.generate_audio,
    )
    return _on(animation, Basis.IMAGE, job.id)


def _vertex_only(edit: JobRequest, **update: object) -> JobRequest:
    """A request for Veo or the upscaler: Gemini's settings do not apply, and its result
    offers no Reroll or Refine (they would ask the same model again)."""
    reset = {"thinking_level": None, "tools": (), "safety": (), "redo": False}
    return edit.model_copy(update={**reset, **update})


def _is_portrait(ratio: str | None) -> bool:
    if not ratio or ":" not in ratio:
        return False
    width, height = ratio.split(":", 1)
    return int(height) > int(width)


def _imagined(job: Job, number: str | None, settings: Settings) -> JobRequest:
    prompts = describe.prompts_of(job)
    place = int(number or 1)
    if not 1 <= place <= len(prompts):
        raise InputError("That prompt is no longer there; run /describe again.")
    model = settings.models.default
    info = settings.models.info(model)
    ratio = job.request.aspect_ratio
    return JobRequest(
        prompt=prompts[place - 1],
        model=model,
        aspect_ratio=ratio if ratio in info.aspect_ratios else None,
        image_size=info.default_size or None,
        count=settings.imagine.default_count,
    )


def output_index(job: Job, number: str | None) -> int:
    """Which of the job's images "U2" or "V2" means (places count withheld images too)."""
    slots = job.slots()
    place = int(number or 1) - 1
    index = slots[place] if 0 <= place < len(slots) else None
    if index is None:
        raise InputError("That image was not made, so there is nothing to continue from.")
    return index


def upscale_size(settings: Settings, model: str, size: str | None) -> str | None:
    """The next larger output size than `size` that `model` offers, if any."""
    info = settings.models.catalog.get(model)
    if info is None:
        return None
    current = size or info.default_size
    if current not in info.image_sizes:
        return None
    bigger = info.image_sizes[info.image_sizes.index(current) + 1 :]
    return bigger[0] if bigger else None


def upscale_offer(job: Job, settings: Settings) -> Offer | None:
    """The size Upscale would make of this job's image, at the price it would reserve."""
    if upscale_size(settings, job.request.model, job.request.image_size) is None:
        return None
    request = derive(Action.UPSCALE, job, None, None, settings).request
    assert request.image_size is not None
    return Offer(request.image_size, estimate_usd(request, settings))


def same_context(request: JobRequest, job: Job) -> JobRequest:
    """A request that starts from where `job` started: the conversation image it continued
    (recorded when it ran), or its own basis when that was fixed from the start."""
    if request.basis is Basis.CONVERSATION:
        if job.parent_job is None:
            return _on(request, Basis.NEW, None)
        return _on(request, Basis.AFTER, job.parent_job, parent_output=job.parent_candidate)
    return request


def _on(request: JobRequest, basis: Basis, parent: str | None, **update: object) -> JobRequest:
    return request.model_copy(update={"basis": basis, "parent": parent, **update})


def _runnable(request: JobRequest, settings: Settings) -> JobRequest:
    """Requests recorded with a model that has left the catalog run on the default."""
    if request.model in settings.models.catalog:
        return request
    return request.model_copy(update={"model": settings.models.default, "thinking_level": None})
