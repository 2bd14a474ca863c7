"""The image stage's rules: one per workflow, its model resolved against the catalog, its
prompt template compiled, and the options checked against what the model offers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from bot.config import ModelInfo, Settings
from bot.jobs.quotas import usd
from bot.workflows.problems import Findings, one_of
from bot.workflows.schema import Choice, ImageGenerationSettings, Provider, Stage, WorkflowFile
from bot.workflows.templates import FieldRef, Template, compile_template
from bot.workflows.workflow import (
    ASPECT_RATIO_FIELDS,
    COUNT_FIELDS,
    IMAGE_SIZE_FIELDS,
    MAX_COUNT,
    MODEL_DEFAULT,
    Generation,
    Option,
)

ResolvedModel = tuple[str, ModelInfo, str | None]  # model, its catalog entry, thinking level


def check_generation(
    doc: WorkflowFile,
    stages: Mapping[str, Stage],
    options: Sequence[Option],
    settings: Settings,
    found: Findings,
) -> Generation | None:
    """The workflow's one image stage, resolved; None when `found` got a problem with it."""
    generating = [(i, stage) for i, stage in enumerate(doc.stages) if stage.generates_image]
    if not generating:
        found.error(
            "stages",
            "no stage generates an image.",
            'Add a stage with "outputType": "image" that depends on the form stage.',
        )
        return None
    if len(generating) > 1:
        found.error(
            f"stages[{generating[1][0]}].outputType",
            f"{len(generating)} stages generate images; more than one image stage per "
            "workflow is not supported yet.",
            "Keep one image stage per file (one command per image step).",
        )
        return None
    index, stage = generating[0]
    where = f"stages[{index}]"
    image_settings = stage.image_generation_settings or ImageGenerationSettings()
    resolved = _resolve_model(stage, image_settings.provider, settings, where, found)
    template, prompt_field = _compile_prompt(stage, stages, options, where, found)
    if resolved is None:
        return None
    model, info, thinking_level = resolved
    _check_options_for_model(doc, options, model, info, found)
    _check_tools(stage, model, info, settings.models.catalog, where, found)
    if info.provider == "veo":
        _check_video_stage(options, model, where, found)
    if "IMAGE" not in image_settings.gemini.response_modalities:
        found.error(
            f"{where}.imageGenerationSettings.gemini.responseModalities",
            "must include IMAGE, or the model answers with text only.",
            'Use ["TEXT", "IMAGE"].',
        )
    if image_settings.store_in_firebase:
        found.warn(
            f"{where}.imageGenerationSettings.storeInFirebase",
            "is ignored: the bot posts images to Discord and keeps them in its own database.",
            "Remove it (or set it to false).",
        )
    imagen = image_settings.provider == "imagen"
    return Generation(
        stage=stage.id,
        model=model,
        model_info=info,
        thinking_level=thinking_level,
        template=template,
        prompt_field=prompt_field,
        negative_prompt=image_settings.negative_prompt,
        # An Imagen stage's images come from that many Gemini calls side by side.
        count=image_settings.imagen.number_of_images if imagen else settings.imagine.default_count,
        response_modalities=image_settings.gemini.response_modalities,
        auto_run=stage.auto_run,
        # A video cannot be rerolled, refined or upscaled like an image.
        redo_enabled=stage.ai_redo_enabled and info.provider == "gemini",
        tools=stage.tools,
        person_generation=image_settings.gemini.person_generation,
        safety=tuple((s.category, s.threshold) for s in image_settings.gemini.safety_settings),
    )


def _check_tools(
    stage: Stage,
    model: str,
    info: ModelInfo,
    catalog: Mapping[str, ModelInfo],
    where: str,
    found: Findings,
) -> None:
    if "google_search" in stage.tools and not info.grounding:
        grounded = ", ".join(sorted(m for m, i in catalog.items() if i.grounding))
        found.error(
            f"{where}.tools",
            f"{model} does not support Google Search grounding (grounding = false in its "
            "catalog entry).",
            f"Use a model that has it ({grounded or 'none in the catalog'}), or remove "
            '"google_search".',
        )


def _check_video_stage(options: Sequence[Option], model: str, where: str, found: Findings) -> None:
    """A veo stage animates one image: the workflow needs exactly one, required."""
    images = [o for o in options if o.field.type == "image"]
    if len(images) != 1 or not images[0].required:
        found.error(
            f"{where}.model",
            f"{model} makes a video from one image, so the workflow needs exactly one image "
            "field, and it must be required.",
            'Give the form one image field with "validation": {"required": true}.',
        )


def _resolve_model(
    stage: Stage, provider: Provider | None, settings: Settings, where: str, found: Findings
) -> ResolvedModel | None:
    """The catalog model the stage runs on: its own; the replacement of a model Google shut
    down (Imagen included); else the default."""
    models = settings.models
    name = stage.model
    named = models.catalog.get(name) if name else None
    if named is not None and named.provider == "upscale":
        found.error(
            f"{where}.model",
            f'"{name}" is an upscaler: it only enlarges images, it cannot make one.',
            "Use a gemini or veo model of the catalog.",
        )
        return None
    if provider == "veo" and (named is None or named.provider != "veo"):
        videos = sorted(m for m, i in models.catalog.items() if i.provider == "veo")
        found.error(
            f"{where}.model",
            '"provider": "veo" needs "model" set to a veo model of the catalog.',
            f"Use one of {', '.join(videos) or 'none: add a veo model to [models.catalog]'}.",
        )
        return None
    if provider == "imagen" and name not in models.catalog and name not in models.retired:
        if name is not None:
            _unknown_model(name, models.imagen_default, where, found)
        name = models.imagen_default
    if name is None:
        return models.default, models.catalog[models.default], None
    if name in models.catalog and models.catalog[name].output != "image":
        found.error(
            f"{where}.model",
            f'"{name}" is a text model: it makes no images.',
            f'Use an image model of the catalog, such as "{models.default}".',
        )
        return None
    if name in models.catalog:
        return name, models.catalog[name], None
    retired = models.retired.get(name)
    if retired is None:
        _unknown_model(name, models.default, where, found)
        return models.default, models.catalog[models.default], None
    thinking = f" with thinking level {retired.thinking_level}" if retired.thinking_level else ""
    found.warn(
        f"{where}.model" if stage.model else f"{where}.imageGenerationSettings.provider",
        f'"{name}" has been shut down by Google; this workflow runs on its replacement '
        f'"{retired.replacement}"{thinking}.',
        f'Set "model" to "{retired.replacement}"'
        + (' and "provider" to "gemini"' if provider == "imagen" else "")
        + " to silence this warning.",
    )
    return retired.replacement, models.catalog[retired.replacement], retired.thinking_level


def _unknown_model(name: str, instead: str, where: str, found: Findings) -> None:
    found.warn(
        f"{where}.model",
        f'the model "{name}" is not in the catalog: it is unknown, or retired (Google shuts '
        f'old models down). This workflow uses "{instead}" instead.',
        'Set "model" to a model of the catalog, or add the model to [models.catalog] in '
        "config.toml.",
    )


def _compile_prompt(
    stage: Stage,
    stages: Mapping[str, Stage],
    options: Sequence[Option],
    where: str,
    found: Findings,
) -> tuple[Template | None, FieldRef | None]:
    """The stage's compiled template; without one, the text field whose value is the prompt."""
    if stage.prompt_template is not None:
        template, issues = compile_template(stage.prompt_template, stage=stage, stages=stages)
        for issue in issues:
            found.error(
                f"{where}.promptTemplate",
                f'{issue.placeholder} in stage "{stage.id}" {issue.message}',
                issue.fix,
            )
        return template, None
    readable = [o for o in options if o.stage in stage.dependencies]
    for kind in ("textarea", "text"):
        prompt = next((o for o in readable if o.field.type == kind), None)
        if prompt is not None:
            return None, prompt.ref
    found.error(
        f"{where}.promptTemplate",
        f'stage "{stage.id}" has no promptTemplate, and no text field it depends on could be '
        "the prompt.",
        "Add a promptTemplate, or a text or textarea field to a form stage it depends on.",
    )
    return None, None


def _check_options_for_model(
    doc: WorkflowFile, options: Sequence[Option], model: str, info: ModelInfo, found: Findings
) -> None:
    """Aspect ratios, sizes and image inputs the model really offers."""
    limits = (
        (ASPECT_RATIO_FIELDS, info.aspect_ratios, "aspect ratios"),
        (IMAGE_SIZE_FIELDS, info.image_sizes, "image sizes"),
    )
    for names, offered, what in limits:
        for option in options:
            if option.field.name not in names:
                continue
            where = _field_path(doc, option)
            if option.field.type != "select":
                found.error(
                    f"{where}.type",
                    f'"{option.field.name}" must be a select field, so members can only pick '
                    f"{what} the model offers.",
                    'Set "type": "select" and list the values as options.',
                )
                continue
            unknown = [c.value for c in option.field.options if c.value not in offered]
            unknown = [value for value in unknown if value != MODEL_DEFAULT]
            if unknown:
                found.error(
                    f"{where}.options",
                    f"{one_of(unknown)} {'is' if len(unknown) == 1 else 'are'} not among the "
                    f"{what} of {model}.",
                    f'Use {one_of([*offered, MODEL_DEFAULT])} ("{MODEL_DEFAULT}" lets the model '
                    "choose).",
                )
    images = [o for o in options if o.field.type == "image"]
    if len(images) > info.max_input_images:
        accepts = (
            "does not take input images"
            if info.max_input_images == 0
            else f"accepts at most {info.max_input_images} input images"
        )
        found.error(
            _field_path(doc, images[-1]),
            f"the workflow has {len(images)} image fields, but {model} {accepts}.",
            "Remove image fields, or choose a model that takes more images.",
        )

    _check_count_field(doc, options, found)


def with_model_sizes(options: Sequence[Option], info: ModelInfo) -> list[Option]:
    """Options with a size field that lists no sizes get the model's, each with its price."""
    filled = []
    for option in options:
        if option.field.name in IMAGE_SIZE_FIELDS and not option.field.options:
            choices = tuple(
                Choice(value=size, label=f"{size} · about {usd(info.price_for(size))} an image")
                for size in info.image_sizes
            )
            option = replace(option, field=option.field.model_copy(update={"options": choices}))
        filled.append(option)
    return filled


def _check_count_field(doc: WorkflowFile, options: Sequence[Option], found: Findings) -> None:
    """A count field offers whole numbers of images from 1 to MAX_COUNT."""
    allowed = {str(n) for n in range(1, MAX_COUNT + 1)}
    for option in options:
        if option.field.name not in COUNT_FIELDS:
            continue
        form_field, where = option.field, _field_path(doc, option)
        fix = f'Offer whole numbers from 1 to {MAX_COUNT} ("1" to "{MAX_COUNT}").'
        if form_field.type == "select":
            wrong = [c.value for c in form_field.options if c.value not in allowed]
            if wrong:
                found.error(f"{where}.options", f"{one_of(wrong)} is not a number of images.", fix)
        elif form_field.type == "number":
            rules = form_field.validation
            if rules.min is None or rules.max is None or rules.min < 1 or rules.max > MAX_COUNT:
                found.error(
                    f"{where}.validation", f"must allow 1 to {MAX_COUNT} images, no more.", fix
                )
        else:
            found.error(f"{where}.type", "a count is a select or number field.", fix)


def _field_path(doc: WorkflowFile, option: Option) -> str:
    """Where `option`'s field is in the file, e.g. "stages[0].formFields[2]"."""
    for i, stage in enumerate(doc.stages):
        for j, form_field in enumerate(stage.form_fields):
            if form_field is option.field:
                return f"stages[{i}].formFields[{j}]"
    return "stages"
