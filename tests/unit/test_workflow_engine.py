"""A loaded workflow as a slash command and as a run: options, defaults, validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.command_spec import OptionSpec
from bot.errors import InputError
from bot.workflows.engine import command_spec, compile_run
from bot.workflows.workflow import Workflow
from tests.unit.workflow_samples import REPO, SETTINGS, imagen_sample, load_one, sample


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


def with_fields(*fields: dict[str, Any]) -> dict[str, Any]:
    data = sample()
    data["stages"][0]["formFields"] += list(fields)
    return data


def test_a_size_field_without_options_lists_the_models_sizes_with_prices(tmp_path: Path) -> None:
    size = {"name": "imageSize", "option": "size", "label": "Size", "type": "select"}
    spec = command_spec(load_one(tmp_path, with_fields(size)))

    (option,) = [o for o in spec.options if o.name == "size"]
    assert option.choices == [
        ("512 · about $0.045 an image", "512"),
        ("1K · about $0.067 an image", "1K"),
        ("2K · about $0.10 an image", "2K"),
        ("4K · about $0.15 an image", "4K"),
    ]
    run = compile_run(load_one(tmp_path, with_fields(size)), {"user_prompt": "a fox", "size": "4K"})
    assert run.image_size == "4K"


def test_the_number_of_images_comes_from_its_field_or_the_setting(tmp_path: Path) -> None:
    field = {
        "name": "numberOfImages",
        "option": "images",
        "type": "select",
        "options": [{"value": str(n), "label": str(n)} for n in (1, 2, 4)],
    }
    workflow = load_one(tmp_path, with_fields(field))
    assert compile_run(workflow, {"user_prompt": "a fox", "images": "4"}).count == 4
    assert compile_run(workflow, {"user_prompt": "a fox"}).count == 1  # [imagine] default
    four = SETTINGS.model_copy(
        update={"imagine": SETTINGS.imagine.model_copy(update={"default_count": 4})}
    )
    assert compile_run(load_one(tmp_path, sample(), four), {"user_prompt": "a fox"}).count == 4


def test_references_are_names_not_prompt_text(tmp_path: Path) -> None:
    refs = {"name": "refs", "label": "References", "type": "references"}
    workflow = load_one(tmp_path, with_fields(refs))
    (option,) = [o for o in command_spec(workflow).options if o.name == "refs"]
    assert (option.kind, option.autocomplete) == ("string", True)

    run = compile_run(workflow, {"user_prompt": "a fox", "refs": " Mia,  old  map ,,Mia"})
    assert run.references == ("Mia", "old map")
    assert "Mia" not in run.prompt
