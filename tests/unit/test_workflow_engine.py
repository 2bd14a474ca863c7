"""A loaded workflow as a slash command and as a run: options, defaults, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.command_spec import OptionSpec
from bot.errors import InputError
from bot.workflows.engine import command_spec, compile_run
from bot.workflows.workflow import Workflow
from tests.unit.workflow_samples import REPO, imagen_sample, load_one, sample


@pytest.fixture
def workflow(tmp_path: Path) -> Workflow:
    return load_one(tmp_path, sample())


def test_form_fields_become_discord_options(workflow: Workflow) -> None:
    spec = command_spec(workflow)

    assert (spec.name, spec.description) == ("sample", "A sample workflow")
    assert list(spec.options) == [
        OptionSpec("user_prompt", "Prompt", "string", True, min_length=3, max_length=100),
        OptionSpec(
            "aspect_ratio",
            "Aspect ratio",
            "string",
            choices=[("Square", "1:1"), ("Wide", "16:9"), ("Model default", "model_default")],
        ),
        OptionSpec("count", "Count", "number", min_value=1, max_value=5),
        OptionSpec("photo", "Photo", "attachment"),
    ]


def test_option_names_and_descriptions_can_be_set(tmp_path: Path) -> None:
    data = sample()
    data["command"] = {"name": "draw", "description": "Draw something"}
    prompt_field = data["stages"][0]["formFields"][0]
    prompt_field.update(option="what", description="What to draw")

    spec = command_spec(load_one(tmp_path, data))

    assert (spec.name, spec.description) == ("draw", "Draw something")
    assert (spec.options[0].name, spec.options[0].description) == ("what", "What to draw")


def test_defaults_fill_optional_fields(workflow: Workflow) -> None:
    run = compile_run(workflow, {"user_prompt": "a fox", "count": 3})

    assert run.prompt == "Draw a fox x3. Moody light.\n\nAvoid: text"
    assert run.aspect_ratio == "1:1"  # the select's defaultValue
    assert run.image_size == "1K"  # the model's default_size
    assert (run.model, run.thinking_level) == ("gemini-3.1-flash-image", None)
    assert run.response_modalities == ("TEXT", "IMAGE")
    assert run.count == 1
    assert run.answers == (("Prompt", "a fox"), ("Aspect ratio", "1:1"), ("Count", "3"))
    assert (run.auto_run, run.redo_enabled, run.image_options) == (True, False, ())


def test_model_default_sends_no_aspect_ratio(workflow: Workflow) -> None:
    run = compile_run(workflow, {"user_prompt": "a fox", "aspect_ratio": "model_default"})
    assert run.aspect_ratio is None
    assert run.job_request().aspect_ratio is None


def test_image_options_are_passed_through_untouched(workflow: Workflow) -> None:
    attachment = object()  # whatever the caller uses: the engine never looks inside

    run = compile_run(workflow, {"user_prompt": "a fox", "photo": attachment})

    assert run.image_options == ("photo",)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, "Prompt is required."),
        ({"user_prompt": ""}, "Prompt is required."),
        ({"user_prompt": "ab"}, "Prompt must be at least 3 characters long (it has 2)."),
        ({"user_prompt": "x" * 101}, "Prompt must be at most 100 characters long (it has 101)."),
        ({"user_prompt": "a fox", "count": 9}, "Count must be at most 5."),
        ({"user_prompt": "a fox", "count": "many"}, "Count must be a number."),
        ({"user_prompt": "a fox", "aspect_ratio": "2:1"}, "Aspect ratio must be one of"),
        ({"user_prompt": "a fox", "colour": "red"}, '/sample has no option "colour"'),
    ],
)
def test_invalid_values_are_refused_naming_the_field(
    workflow: Workflow, values: dict[str, object], expected: str
) -> None:
    with pytest.raises(InputError) as caught:
        compile_run(workflow, values)
    assert caught.value.user_message.startswith(expected)


def test_a_required_image_must_be_given(tmp_path: Path) -> None:
    edit = load_one(tmp_path, (REPO / "workflows" / "edit.json").read_text(encoding="utf-8"))

    with pytest.raises(InputError, match="Photo is required: attach an image"):
        compile_run(edit, {"instruction": "make it night-time"})
    run = compile_run(edit, {"instruction": "make it night-time", "photo": "p", "reference": "r"})
    assert run.image_options == ("photo", "reference")
    assert "Edit the first image provided, a photo: make it night-time" in run.prompt


def test_without_a_template_the_prompt_field_is_the_prompt(tmp_path: Path) -> None:
    data = sample()
    del data["stages"][1]["promptTemplate"]
    data["stages"][1]["imageGenerationSettings"]["negativePrompt"] = ""

    run = compile_run(load_one(tmp_path, data), {"user_prompt": "  a fox {{x}}  "})

    assert run.prompt == "a fox {{x}}"


def test_an_imagen_run_becomes_side_by_side_gemini_calls(tmp_path: Path) -> None:
    run = compile_run(load_one(tmp_path, imagen_sample()), {"user_prompt": "a fox"})

    request = run.job_request()
    assert request.prompt == "Draw a fox x. Moody light.\n\nAvoid: text"
    assert (request.model, request.thinking_level, request.count) == (
        "gemini-3.1-flash-image",
        "HIGH",
        4,
    )
    assert (request.aspect_ratio, request.image_size) == ("1:1", "1K")


def test_the_briefing_shows_the_model_the_answers_and_the_prompt(workflow: Workflow) -> None:
    run = compile_run(workflow, {"user_prompt": "a fox", "photo": object()})

    assert run.briefing().splitlines() == [
        "/sample: 1 image with Gemini 3.1 Flash Image (gemini-3.1-flash-image)",
        "Prompt: a fox",
        "Aspect ratio: 1:1",
        "Images: photo",
        "Full prompt: Draw a fox x. Moody light.",
        "",
        "Avoid: text",
    ]
