"""A loaded workflow as a slash command (`command_spec`) and as one run (`compile_run`). Pure.

`compile_run` takes the option values a member gave, keyed by option name, exactly as the
command received them. Image options are passed through untouched (Discord attachments,
uploaded bytes: whatever the caller uses); the run only says which options held images.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.command_spec import CommandSpec, OptionSpec
from bot.errors import InputError
from bot.jobs.records import JobRequest
from bot.workflows.problems import one_of
from bot.workflows.schema import Modality
from bot.workflows.templates import FieldRef
from bot.workflows.values import Value, as_text, parse_value
from bot.workflows.workflow import (
    ASPECT_RATIO_FIELDS,
    COUNT_FIELDS,
    IMAGE_SIZE_FIELDS,
    MODEL_DEFAULT,
    Option,
    Workflow,
)

REFERENCES_MAX_LENGTH = 500  # characters of comma-separated reference names


@dataclass(frozen=True)
class CompiledRun:
    """Everything one run sends to the model, decided before anything is sent."""

    workflow_id: str
    command: str
    model: str
    model_label: str
    thinking_level: str | None
    prompt: str  # the rendered template, with the negative prompt folded in
    aspect_ratio: str | None  # None: the model chooses
    image_size: str | None  # None: the model's default
    count: int  # images side by side
    response_modalities: tuple[Modality, ...]
    image_options: tuple[str, ...]  # the image options the member filled, in command order
    references: tuple[str, ...]  # names of saved references, in the order given
    auto_run: bool  # False: show `briefing()` and ask before generating
    redo_enabled: bool
    answers: tuple[tuple[str, str], ...]  # (label, value) of each answered text option
    tools: tuple[str, ...] = ()
    person_generation: str | None = None
    safety: tuple[tuple[str, str], ...] = ()
    video_s: int | None = None  # a veo stage: the video's length (it animates the image)
    audio: bool = False

    def briefing(self) -> str:
        """What will be generated, for the member to confirm when `auto_run` is False."""
        count = "1 image" if self.count == 1 else f"{self.count} images"
        lines = [f"/{self.command}: {count} with {self.model_label} ({self.model})"]
        lines += [f"{label}: {value}" for label, value in self.answers]
        if self.image_options:
            lines.append(f"Images: {', '.join(self.image_options)}")
        lines.append(f"Full prompt: {self.prompt}")
        return "\n".join(lines)

    def job_request(self) -> JobRequest:
        """The run as the request a job records (uploads are added by the caller)."""
        return JobRequest(
            prompt=self.prompt,
            model=self.model,
            aspect_ratio=self.aspect_ratio,
            image_size=self.image_size,
            workflow=self.workflow_id,
            redo=self.redo_enabled,
            count=self.count,
            thinking_level=self.thinking_level,
            response_modalities=self.response_modalities,
            tools=self.tools,
            person_generation=self.person_generation,
            safety=self.safety,
            call="animate" if self.video_s else "generate",
            duration_s=self.video_s,
            audio=self.audio,
        )


def command_spec(workflow: Workflow) -> CommandSpec:
    return CommandSpec(
        workflow.command, workflow.description, [_option_spec(o) for o in workflow.options]
    )


def _option_spec(option: Option) -> OptionSpec:
    form_field, rules = option.field, option.field.validation
    spec = OptionSpec(option.name, option.description, required=option.required)
    if form_field.type == "image":
        return replace(spec, kind="attachment")
    if form_field.type == "references":
        return replace(spec, autocomplete=True, max_length=REFERENCES_MAX_LENGTH)
    if form_field.type == "number":
        return replace(spec, kind="number", min_value=rules.min, max_value=rules.max)
    if form_field.type == "select":
        return replace(
            spec, choices=[(choice.label, choice.value) for choice in form_field.options]
        )
    return replace(spec, min_length=rules.min_length, max_length=rules.max_length)


def compile_run(workflow: Workflow, values: Mapping[str, Any]) -> CompiledRun:
    """The run for these option values. Raises InputError naming the field to correct."""
    unknown = sorted(set(values) - {option.name for option in workflow.options})
    if unknown:
        names = [option.name for option in workflow.options]
        raise InputError(
            f"/{workflow.command} has no option {one_of(unknown)}; its options are {one_of(names)}."
        )
    answers: dict[FieldRef, Value] = {}
    image_options: list[str] = []
    references: list[str] = []
    for option in workflow.options:
        given = values.get(option.name)
        if given == "":
            given = None
        if option.field.type == "references":
            references += reference_names(str(given or ""))
            continue
        if option.field.type == "image":
            if given is not None:
                image_options.append(option.name)
            elif option.required:
                raise InputError(f"{option.label} is required: attach an image.")
            continue
        value = _answer(option, given)
        if value is not None:
            answers[option.ref] = value
    return _compile(workflow, answers, tuple(image_options), tuple(dict.fromkeys(references)))


def reference_names(text: str) -> list[str]:
    """ "Mia, ink ,, old map" -> ["Mia", "ink", "old map"]."""
    return [" ".join(name.split()) for name in text.split(",") if name.strip()]


def _answer(option: Option, given: Any) -> Value | None:
    if given is None:
        if option.required:
            raise InputError(f"{option.label} is required.")
        given = option.field.default_value
        if given is None:
            return None
    try:
        return parse_value(option.field, given)
    except ValueError as exc:
        raise InputError(f"{option.label} {exc}.") from None


def _compile(
    workflow: Workflow,
    answers: Mapping[FieldRef, Value],
    image_options: tuple[str, ...],
    references: tuple[str, ...],
) -> CompiledRun:
    generation = workflow.generation
    texts = {ref: as_text(value) for ref, value in answers.items()}
    if generation.template is not None:
        prompt = generation.template.render(texts)
    else:
        prompt = texts.get(generation.prompt_field, "") if generation.prompt_field else ""
    prompt = prompt.strip()
    if not prompt:
        raise InputError("The prompt is empty: describe the image you want.")
    negative = generation.negative_prompt.strip()
    if negative:
        prompt = f"{prompt}\n\nAvoid: {negative}"
    info = generation.model_info
    size = _choice(workflow, IMAGE_SIZE_FIELDS, texts)
    return CompiledRun(
        workflow_id=workflow.id,
        command=workflow.command,
        model=generation.model,
        model_label=info.label,
        thinking_level=generation.thinking_level,
        prompt=prompt,
        aspect_ratio=_choice(workflow, ASPECT_RATIO_FIELDS, texts),
        image_size=size or info.default_size or None,
        count=int(float(_choice(workflow, COUNT_FIELDS, texts) or generation.count)),
        response_modalities=generation.response_modalities,
        image_options=image_options,
        references=references,
        auto_run=generation.auto_run,
        redo_enabled=generation.redo_enabled,
        answers=tuple((o.label, texts[o.ref]) for o in workflow.options if o.ref in texts),
        tools=generation.tools,
        person_generation=generation.person_generation,
        safety=generation.safety,
        video_s=info.default_duration_s if info.provider == "veo" else None,
        audio=info.generate_audio,
    )


def _choice(
    workflow: Workflow, names: tuple[str, ...], texts: Mapping[FieldRef, str]
) -> str | None:
    """The value of the field called one of `names`; None when absent or "model_default"."""
    option = workflow.option_for_field(names)
    value = texts.get(option.ref) if option else None
    return None if value in (None, MODEL_DEFAULT) else value
