"""Prompt templates: `{{stage-id.output.field}}` and `{{config.imageGenerationSettings.key}}`.

A template is compiled once, when the workflow is loaded: every placeholder is checked (the
stage exists and is a dependency, the field exists and holds text, the setting is set) and
settings placeholders are replaced by their text then. Rendering is a single pass over the
compiled pieces, so what a member typed is inserted as data: a value containing `{{x}}`
stays exactly that, it is never read as a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.workflows.problems import did_you_mean, one_of
from bot.workflows.schema import ImageGenerationSettings, Stage

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_OUTPUT = ".output."
_SETTINGS_PREFIX = "config.imageGenerationSettings."
# The settings a template may quote: the text ones (JSON key -> attribute).
_TEXT_SETTINGS = {
    "styleGuidanceInternal": "style_guidance_internal",
    "negativePrompt": "negative_prompt",
}


@dataclass(frozen=True)
class FieldRef:
    """`{{stage.output.field}}`: the value a member gave for `field` of form stage `stage`."""

    stage: str
    field: str


@dataclass(frozen=True)
class TemplateIssue:
    placeholder: str  # as written, braces included
    message: str
    fix: str


@dataclass(frozen=True)
class Template:
    pieces: tuple[str | FieldRef, ...]

    @property
    def references(self) -> tuple[FieldRef, ...]:
        return tuple(piece for piece in self.pieces if isinstance(piece, FieldRef))

    def render(self, values: Mapping[FieldRef, str]) -> str:
        """The text with each field's value inserted as is (missing values are empty)."""
        return "".join(p if isinstance(p, str) else values.get(p, "") for p in self.pieces)


def compile_template(
    text: str, *, stage: Stage, stages: Mapping[str, Stage]
) -> tuple[Template, list[TemplateIssue]]:
    """The compiled template of `stage`, and every problem found in its placeholders."""
    pieces: list[str | FieldRef] = []
    issues: list[TemplateIssue] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        pieces.append(text[position : match.start()])
        position = match.end()
        piece, problem = _resolve(match.group(1).strip(), stage, stages)
        if problem is not None:
            issues.append(TemplateIssue(match.group(0), *problem))
        pieces.append(piece)
    pieces.append(text[position:])
    if "{{" in _PLACEHOLDER.sub("", text):
        issues.append(
            TemplateIssue(
                "{{",
                "is never closed with }}.",
                "Close the placeholder, e.g. {{stage-id.output.field}}.",
            )
        )
    return Template(tuple(p for p in pieces if p != "")), issues


def _resolve(
    path: str, stage: Stage, stages: Mapping[str, Stage]
) -> tuple[str | FieldRef, tuple[str, str] | None]:
    """The piece a placeholder stands for, and (message, fix) if it cannot be used."""
    if path.startswith(_SETTINGS_PREFIX):
        return _setting(path.removeprefix(_SETTINGS_PREFIX), stage.image_generation_settings)
    source_id, found, field_name = path.partition(_OUTPUT)
    if not found:
        return "", (
            "is not a placeholder this bot knows.",
            "Use {{stage-id.output.field}} for a member's answer or "
            "{{config.imageGenerationSettings.styleGuidanceInternal}} for a setting.",
        )
    ref = FieldRef(source_id, field_name)
    source = stages.get(source_id)
    if source is None:
        return ref, (
            f'names the stage "{source_id}", which does not exist.',
            f"Use one of the stage ids {one_of(stages)}.{did_you_mean(source_id, stages)}",
        )
    if source_id not in stage.dependencies:
        return ref, (
            f'reads stage "{source_id}", which is not one of its dependencies.',
            f'Add "{source_id}" to "dependencies" of stage "{stage.id}".',
        )
    fields = {f.name: f for f in source.form_fields}
    field = fields.get(field_name)
    if field is None:
        return ref, (
            f'reads the field "{field_name}", which stage "{source_id}" does not have.',
            f"Use one of its fields {one_of(fields)}.{did_you_mean(field_name, fields)}",
        )
    if field.type in ("image", "references"):
        kind = "an image" if field.type == "image" else "a references"
        return ref, (
            f'reads "{field_name}", {kind} field: images go to the model next to the prompt, '
            "not into its text.",
            "Remove the placeholder.",
        )
    return ref, None


def _setting(
    key: str, settings: ImageGenerationSettings | None
) -> tuple[str, tuple[str, str] | None]:
    attribute = _TEXT_SETTINGS.get(key)
    if attribute is None:
        return "", (
            f'names "{key}", which is not a text setting of imageGenerationSettings.',
            f"Use one of {one_of(_TEXT_SETTINGS)}.{did_you_mean(key, _TEXT_SETTINGS)}",
        )
    value: str = getattr(settings, attribute, "") if settings else ""
    if not value:
        return "", (
            f"quotes imageGenerationSettings.{key}, which is not set in this stage.",
            f'Set "{key}" in the stage\'s "imageGenerationSettings", or remove the placeholder.',
        )
    return value, None
