"""Prompt templates: placeholders checked at load time, member text inserted as data."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.workflows.engine import compile_run
from bot.workflows.schema import Stage
from bot.workflows.templates import FieldRef, compile_template
from tests.unit.workflow_samples import load_one, sample

ASK = Stage.model_validate(
    {
        "id": "ask",
        "inputType": "form",
        "outputType": "json",
        "formFields": [
            {"name": "subject", "type": "text"},
            {"name": "photo", "type": "image"},
        ],
    }
)


def make_stage(template: str, *, style: str = "Soft light.") -> Stage:
    return Stage.model_validate(
        {
            "id": "make",
            "inputType": "none",
            "outputType": "image",
            "dependencies": ["ask"],
            "promptTemplate": template,
            "imageGenerationSettings": {"styleGuidanceInternal": style},
        }
    )


def compiled(template: str, **kwargs: str) -> tuple[str, list[str]]:
    """The template rendered with subject="a cat", and the messages of its issues."""
    stage = make_stage(template, **kwargs)
    result, issues = compile_template(template, stage=stage, stages={"ask": ASK, "make": stage})
    return result.render({FieldRef("ask", "subject"): "a cat"}), [i.message for i in issues]


def test_placeholders_are_filled_and_settings_are_inlined_at_load_time() -> None:
    text, issues = compiled(
        "Draw {{ask.output.subject}}. {{ config.imageGenerationSettings.styleGuidanceInternal }}"
    )
    assert issues == []
    assert text == "Draw a cat. Soft light."


def test_a_setting_that_looks_like_a_placeholder_is_inlined_as_text() -> None:
    text, issues = compiled(
        "{{config.imageGenerationSettings.styleGuidanceInternal}}",
        style="Literally {{ask.output.subject}}",
    )
    assert issues == []
    assert text == "Literally {{ask.output.subject}}"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ask.output.photo}}", 'reads "photo", an image field'),
        ("{{config.imageGenerationSettings.negativePrompt}}", "which is not set in this stage"),
        ("Draw {{ask.output.subject}", "is never closed with }}"),
        ("{{ask.subject}}", "is not a placeholder this bot knows"),
    ],
)
def test_unusable_placeholders_are_issues(template: str, expected: str) -> None:
    _, issues = compiled(template)
    assert len(issues) == 1
    assert expected in issues[0]


def test_every_bad_placeholder_is_reported() -> None:
    _, issues = compiled("{{ask.output.a}} and {{ask.output.b}}")
    assert [message.split(",")[0] for message in issues] == [
        'reads the field "a"',
        'reads the field "b"',
    ]


@pytest.mark.parametrize(
    "typed",
    [
        "{{ask.output.count}}",
        "{{config.imageGenerationSettings.styleGuidanceInternal}}",
        "{{ make.output.x }} {{",
        "}} {{ask.output.userPrompt}}",
    ],
)
def test_member_text_can_never_inject_template_syntax(tmp_path: Path, typed: str) -> None:
    workflow = load_one(tmp_path, sample())

    run = compile_run(workflow, {"user_prompt": typed, "count": 2})

    assert run.prompt.startswith(f"Draw {typed} x2. Moody light.")


def test_rendering_is_a_single_pass_even_for_values_that_match_other_fields(
    tmp_path: Path,
) -> None:
    data = sample()
    data["stages"][1]["promptTemplate"] = "{{ask.output.userPrompt}}|{{ask.output.aspectRatio}}"
    workflow = load_one(tmp_path, data)

    run = compile_run(workflow, {"user_prompt": "{{ask.output.aspectRatio}}"})

    assert run.prompt.startswith("{{ask.output.aspectRatio}}|1:1")
