"""Loading workflow files: the shipped ones load, and every kind of mistake is reported with
its file, its place in the file and a fix, all of them at once."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.workflows.loader import (
    SCHEMA_FILE,
    load_workflows,
    read_workflows,
    workflows_directory,
)
from bot.workflows.problems import WorkflowError, WorkflowProblem
from bot.workflows.schema import json_schema_text
from tests.unit.workflow_samples import (
    REPO,
    SETTINGS,
    imagen_sample,
    report_for,
    sample,
    write,
)

Data = dict[str, Any]


def only_problem(report_problems: tuple[WorkflowProblem, ...]) -> WorkflowProblem:
    assert len(report_problems) == 1, "\n".join(map(str, report_problems))
    return report_problems[0]


# --------------------------------------------------------------------------- shipped files


def test_the_shipped_workflows_load_without_problems_or_warnings() -> None:
    report = read_workflows(workflows_directory(SETTINGS), SETTINGS)
    assert report.problems == ()
    assert report.warnings == ()
    commands = {w.command: [o.name for o in w.options] for w in report.workflows}
    assert commands == {
        "imagine": [
            "prompt",
            "aspect_ratio",
            "size",
            "count",
            "image",
            "image2",
            "image3",
            "refs",
        ],
        "edit": ["photo", "instruction", "reference", "reference2"],
        "logo": ["company_area", "company_name", "style"],
        "infographic": ["topic", "aspect_ratio"],
    }
    (infographic,) = [w for w in report.workflows if w.command == "infographic"]
    assert infographic.generation.tools == ("google_search",)


def test_the_seed_example_loads_with_a_warning_about_its_retired_model(tmp_path: Path) -> None:
    shutil.copy(REPO / "workflows" / "examples" / "seed-example.json", tmp_path)

    loaded = load_workflows(tmp_path, SETTINGS)

    (workflow,) = loaded.workflows
    assert workflow.command == "example-image-workflow"
    assert [o.name for o in workflow.options] == ["user_prompt", "aspect_ratio"]
    assert workflow.generation.model == SETTINGS.models.default
    assert not workflow.generation.auto_run
    (warning,) = loaded.warnings
    assert warning.field == "stages[1].model"
    assert "gemini-2.0-flash-preview-image-generation" in warning.message
    assert "has been shut down by Google" in warning.message
    assert 'its replacement "gemini-3.1-flash-image"' in warning.message


def test_the_schema_file_and_subfolders_are_not_workflows(tmp_path: Path) -> None:
    write(tmp_path, "w.json", sample())
    write(tmp_path, SCHEMA_FILE, "{}")
    write(tmp_path / "examples", "other.json", "not even JSON")

    assert [w.id for w in load_workflows(tmp_path, SETTINGS).workflows] == ["sample"]


def test_the_editor_schema_is_in_sync_with_the_models() -> None:
    written = (REPO / "workflows" / SCHEMA_FILE).read_text(encoding="utf-8")
    assert written == json_schema_text(), "run: uv run python -m bot.workflows.schema"


def test_nothing_outside_discord_ui_imports_discord() -> None:
    code = (
        "import importlib, pkgutil, sys, bot\n"
        "for module in pkgutil.walk_packages(bot.__path__, 'bot.'):\n"
        "    if not module.name.startswith(('bot.discord_ui', 'bot.cli', 'bot.__main__')):\n"
        "        importlib.import_module(module.name)\n"
        "assert 'discord' not in sys.modules, 'discord was imported'\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


# --------------------------------------------------------------------------- mistakes


def _set(path: str, value: Any, *more: tuple[str, Any]) -> Callable[[Data], None]:
    """A mutation setting dotted paths ("stages.1.model") of the sample; an index one past
    the end of a list appends."""

    def mutate(data: Data) -> None:
        for dotted, new in ((path, value), *more):
            *parents, last = dotted.split(".")
            target: Any = data
            for key in parents:
                target = target[int(key)] if key.isdigit() else target[key]
            if isinstance(target, list) and int(last) == len(target):
                target.append(new)
            else:
                target[int(last) if isinstance(target, list) else last] = new

    return mutate


ASK_FIELDS = "stages.0.formFields"
TEMPLATE = "stages.1.promptTemplate"

MISTAKES: list[tuple[str, Callable[[Data], None], str, str, str]] = [
    # (case, mutation, expected field, expected in message, expected in fix)
    (
        "unknown placeholder field",
        _set(TEMPLATE, "Draw {{ask.output.userPromt}}"),
        "stages[1].promptTemplate",
        '{{ask.output.userPromt}} in stage "make" reads the field "userPromt"',
        'Did you mean "userPrompt"?',
    ),
    (
        "placeholder of an unknown stage",
        _set(TEMPLATE, "Draw {{asks.output.userPrompt}}"),
        "stages[1].promptTemplate",
        'names the stage "asks", which does not exist',
        'Did you mean "ask"?',
    ),
    (
        "placeholder of a stage that is not a dependency",
        _set("stages.1.dependencies", [], (TEMPLATE, "Draw {{ask.output.userPrompt}}")),
        "stages[1].promptTemplate",
        'reads stage "ask", which is not one of its dependencies',
        'Add "ask" to "dependencies" of stage "make"',
    ),
    (
        "unknown settings placeholder",
        _set(TEMPLATE, "{{config.imageGenerationSettings.styleGuidance}}"),
        "stages[1].promptTemplate",
        'names "styleGuidance", which is not a text setting',
        'Did you mean "styleGuidanceInternal"?',
    ),
    (
        "placeholder that is not one",
        _set(TEMPLATE, "Draw {{userPrompt}}"),
        "stages[1].promptTemplate",
        '{{userPrompt}} in stage "make" is not a placeholder this bot knows',
        "{{stage-id.output.field}}",
    ),
    (
        "dependency cycle",
        _set("stages.0.dependencies", ["make"]),
        "stages",
        "cycle: ask -> make -> ask",
        "Remove one of these dependencies",
    ),
    (
        "missing dependency",
        _set("stages.1.dependencies", ["ask", "aks"]),
        "stages[1].dependencies",
        'depends on "aks", which does not exist',
        'Did you mean "ask"?',
    ),
    (
        "select default that is not an option",
        _set(f"{ASK_FIELDS}.1.defaultValue", "2:1"),
        "stages[0].formFields[1].defaultValue",
        'the default \'2:1\' must be one of "1:1", "16:9" or "model_default"',
        "Use one of the option values.",
    ),
    (
        "invalid command name",
        _set("command", {"name": "Make Image"}),
        "command.name",
        "'Make Image' contains ' ', 'I', 'M'; Discord allows only lower-case letters",
        '"name": "make-image"',
    ),
    (
        "command name too long",
        _set("command", {"name": "a-much-too-long-name-for-a-discord-command"}),
        "command.name",
        "has 42 characters; Discord allows 1 to 32",
        '"name": "a-much-too-long-name-for-a-disco"',
    ),
    (
        "too many choices",
        _set(
            f"{ASK_FIELDS}.4",
            {
                "name": "mood",
                "type": "select",
                "options": [{"value": f"m{n}", "label": f"Mood {n}"} for n in range(26)],
            },
        ),
        "stages[0].formFields[4].options",
        "26 options; Discord allows at most 25 choices",
        "Remove options",
    ),
    (
        "unknown key close to a known one",
        _set("stages.1.promptTemplat", "x"),
        "stages[1]",
        '"promptTemplat" is not a known key',
        'Did you mean "promptTemplate"?',
    ),
    (
        "unknown key far from any known one",
        _set(f"{ASK_FIELDS}.0.validation.mandatory", True),
        "stages[0].formFields[0].validation",
        '"mandatory" is not a known key',
        'The keys here are "required", "minLength"',
    ),
    (
        "aspect ratio the model does not offer",
        _set(f"{ASK_FIELDS}.1.options.1", {"value": "7:3", "label": "odd"}),
        "stages[0].formFields[1].options",
        '"7:3" is not among the aspect ratios of gemini-3.1-flash-image',
        '"model_default" lets the model choose',
    ),
    (
        "two image stages",
        _set("stages.2", {"id": "again", "inputType": "none", "outputType": "image_output"}),
        "stages[2].outputType",
        "more than one image stage per workflow is not supported yet",
        "Keep one image stage per file",
    ),
    (
        "responseModalities without IMAGE",
        _set("stages.1.imageGenerationSettings.gemini", {"responseModalities": ["TEXT"]}),
        "stages[1].imageGenerationSettings.gemini.responseModalities",
        "must include IMAGE",
        '["TEXT", "IMAGE"]',
    ),
    (
        "wrong value type",
        _set("stages.1.autoRun", "sometimes"),
        "stages[1].autoRun",
        "Input should be a valid boolean",
        "workflows/schema.json",
    ),
    (
        "option names that collide",
        _set(f"{ASK_FIELDS}.2.option", "user_prompt"),
        "stages[0].formFields[2].option",
        'the option name "user_prompt" is also the name of stages[0].formFields[0]',
        'Set "option" on one of the two fields',
    ),
    (
        "text limits on a number field",
        _set(f"{ASK_FIELDS}.2.validation.maxLength", 3),
        "stages[0].formFields[2].validation",
        "minLength and maxLength apply to text and textarea fields, not to number fields",
        "Remove them.",
    ),
    (
        "a number of images Gemini cannot make at once",
        _set(
            f"{ASK_FIELDS}.4",
            {
                "name": "numberOfImages",
                "type": "select",
                "options": [{"value": n, "label": n} for n in ("1", "6")],
            },
        ),
        "stages[0].formFields[4].options",
        '"6" is not a number of images',
        'Offer whole numbers from 1 to 4 ("1" to "4")',
    ),
    (
        "references read into the prompt",
        _set(
            f"{ASK_FIELDS}.4",
            {"name": "refs", "type": "references"},
            (TEMPLATE, "Draw {{ask.output.refs}}"),
        ),
        "stages[1].promptTemplate",
        'reads "refs", a references field',
        "Remove the placeholder.",
    ),
    (
        "an upscaler as the image model",
        _set("stages.1.model", "imagen-4.0-upscale-preview"),
        "stages[1].model",
        "is an upscaler",
        "Use a gemini or veo model",
    ),
    (
        "provider veo without a veo model",
        _set("stages.1.imageGenerationSettings.provider", "veo"),
        "stages[1].model",
        '"provider": "veo" needs "model" set to a veo model',
        "veo-3.1-fast-generate-001",
    ),
    (
        "an unknown tool",
        _set("stages.1.tools", ["code_execution"]),
        "stages[1].tools[0]",
        "Input should be 'google_search'",
        "workflows/schema.json",
    ),
    (
        "length limit beyond Discord's",
        _set(f"{ASK_FIELDS}.0.validation.maxLength", 6001),
        "stages[0].formFields[0].validation.maxLength",
        "less than or equal to 6000",
        "workflows/schema.json",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "field", "message", "fix"),
    [case[1:] for case in MISTAKES],
    ids=[case[0] for case in MISTAKES],
)
def test_each_mistake_is_reported_with_its_place_and_fix(
    tmp_path: Path, mutate: Callable[[Data], None], field: str, message: str, fix: str
) -> None:
    data = sample()
    mutate(data)

    problem = only_problem(report_for(tmp_path, data).problems)

    assert problem.file == str(tmp_path / "w0.json")
    assert problem.field == field
    assert message in problem.message
    assert fix in problem.fix


def test_bad_json_is_reported_with_line_and_column(tmp_path: Path) -> None:
    problem = only_problem(report_for(tmp_path, '{\n  "id": "x",\n  "name": oops\n}').problems)
    assert problem.field == "line 3, column 11"
    assert "not valid JSON" in problem.message


def test_too_many_options(tmp_path: Path) -> None:
    data = sample()
    data["stages"][0]["formFields"] += [{"name": f"extra{n}", "type": "text"} for n in range(22)]
    problem = only_problem(report_for(tmp_path, data).problems)
    assert "26 options; Discord allows at most 25" in problem.message


def test_duplicate_command_names_across_files(tmp_path: Path) -> None:
    other = sample()
    other["id"] = "other"
    other["command"] = {"name": "sample"}

    report = report_for(tmp_path, sample(), other)

    problem = only_problem(report.problems)
    assert (problem.file, problem.field) == (str(tmp_path / "w1.json"), "command.name")
    assert f'"/sample" is also defined by {tmp_path / "w0.json"}' in problem.message
    assert [w.source.name for w in report.workflows] == ["w0.json"]


@pytest.mark.parametrize("name", ["usage", "admin", "ref", "jobs", "show", "describe"])
def test_the_bots_own_command_names_are_taken(tmp_path: Path, name: str) -> None:
    taken = sample()
    taken["id"] = name  # a name derived from the id counts too
    problem = only_problem(report_for(tmp_path, taken).problems)
    assert problem.field == "command.name"
    assert f"/{name} is one of the bot's own commands" in problem.message


def test_several_problems_in_several_files_are_reported_together(tmp_path: Path) -> None:
    first = sample()
    first["stages"][0]["formFields"][1]["defaultValue"] = "2:1"
    first["stages"][1]["promptTemplat"] = "x"
    first["stages"][1]["dependencies"] = ["ask", "nowhere"]

    write(tmp_path, "w0.json", first)
    write(tmp_path, "w1.json", "{ not json")

    with pytest.raises(WorkflowError) as caught:
        load_workflows(tmp_path, SETTINGS)

    problems = caught.value.problems
    assert sorted((Path(p.file).name, p.field) for p in problems) == [
        ("w0.json", "stages[0].formFields[1].defaultValue"),
        ("w0.json", "stages[1]"),
        ("w0.json", "stages[1].dependencies"),
        ("w1.json", "line 1, column 3"),
    ]
    assert isinstance(caught.value, ConfigError)
    assert "4 problem(s)" in caught.value.user_message


def test_required_options_are_moved_first_with_a_warning(tmp_path: Path) -> None:
    data = sample()
    data["stages"][0]["formFields"][2]["validation"]["required"] = True  # count, after a select

    report = report_for(tmp_path, data)

    assert report.problems == ()
    (workflow,) = report.workflows
    assert [o.name for o in workflow.options] == ["user_prompt", "count", "aspect_ratio", "photo"]
    (warning,) = report.warnings
    assert "user_prompt, count, aspect_ratio, photo" in warning.message


def test_options_in_order_need_no_warning(tmp_path: Path) -> None:
    assert report_for(tmp_path, sample()).warnings == ()


def test_store_in_firebase_is_accepted_and_ignored_with_a_warning(tmp_path: Path) -> None:
    data = sample()
    data["stages"][1]["imageGenerationSettings"]["storeInFirebase"] = True

    report = report_for(tmp_path, data)

    assert report.problems == ()
    (warning,) = report.warnings
    assert warning.field == "stages[1].imageGenerationSettings.storeInFirebase"


def test_more_image_fields_than_the_model_takes(tmp_path: Path) -> None:
    data = sample()
    for n in range(14):
        data["stages"][0]["formFields"].append({"name": f"photo{n}", "type": "image"})

    problem = only_problem(report_for(tmp_path, data).problems)

    assert problem.field == "stages[0].formFields[17]"
    assert "accepts at most 14 input images" in problem.message


def test_a_missing_or_empty_folder_is_a_problem(tmp_path: Path) -> None:
    missing = only_problem(read_workflows(tmp_path / "nowhere", SETTINGS).problems)
    empty = only_problem(read_workflows(tmp_path, SETTINGS).problems)
    assert "is not a folder" in missing.message
    assert "has no workflow files" in empty.message


# --------------------------------------------------------------------------- retired models


def test_an_imagen_stage_runs_on_its_replacement_with_one_warning(tmp_path: Path) -> None:
    report = report_for(tmp_path, imagen_sample())

    assert report.problems == ()
    generation = report.workflows[0].generation
    assert (generation.model, generation.thinking_level) == ("gemini-3.1-flash-image", "HIGH")
    assert generation.count == 4  # numberOfImages, as side-by-side calls
    (warning,) = report.warnings
    assert warning.field == "stages[1].model"
    assert '"imagen-4.0-generate-001" has been shut down by Google' in warning.message
    assert '"gemini-3.1-flash-image" with thinking level HIGH' in warning.message


def test_provider_imagen_alone_runs_on_the_replacement_of_the_default_imagen(
    tmp_path: Path,
) -> None:
    data = imagen_sample()
    del data["stages"][1]["model"]

    report = report_for(tmp_path, data)

    generation = report.workflows[0].generation
    assert (generation.model, generation.thinking_level) == ("gemini-3.1-flash-image", "HIGH")
    (warning,) = report.warnings
    assert warning.field == "stages[1].imageGenerationSettings.provider"


def test_an_unknown_imagen_model_runs_on_the_default_imagens_replacement(tmp_path: Path) -> None:
    data = imagen_sample()
    data["stages"][1]["model"] = "imagen-3.0-generate-002"

    report = report_for(tmp_path, data)

    assert report.problems == ()
    assert report.workflows[0].generation.model == "gemini-3.1-flash-image"
    unknown, retired = report.warnings
    assert '"imagen-3.0-generate-002" is not in the catalog' in unknown.message
    assert "shut down" in retired.message


def test_the_ultra_model_maps_to_the_pro_model(tmp_path: Path) -> None:
    data = imagen_sample()
    data["stages"][1]["model"] = "imagen-4.0-ultra-generate-001"

    generation = report_for(tmp_path, data).workflows[0].generation

    assert (generation.model, generation.thinking_level) == ("gemini-3-pro-image", None)


# --------------------------------------------------------------------------- Google's other tools


def test_grounding_is_refused_for_a_model_without_it(tmp_path: Path) -> None:
    pro = SETTINGS.models.info("gemini-3-pro-image").model_copy(update={"grounding": False})
    catalog = {**SETTINGS.models.catalog, "gemini-3-pro-image": pro}
    settings = SETTINGS.model_copy(
        update={"models": SETTINGS.models.model_copy(update={"catalog": catalog})}
    )
    data = sample()
    data["stages"][1] |= {"model": "gemini-3-pro-image", "tools": ["google_search"]}

    problem = only_problem(report_for(tmp_path, data, settings=settings).problems)

    assert problem.field == "stages[1].tools"
    assert "gemini-3-pro-image does not support Google Search grounding" in problem.message
    assert "gemini-3.1-flash-image" in problem.fix


def test_a_veo_stage_animates_its_one_required_image(tmp_path: Path) -> None:
    data = sample()
    ask = data["stages"][0]["formFields"]
    ask[1]["options"] = [{"value": "9:16", "label": "Tall"}, {"value": "16:9", "label": "Wide"}]
    ask[1]["defaultValue"] = "16:9"
    ask[3]["validation"] = {"required": True}
    data["stages"][1] |= {"model": "veo-3.1-fast-generate-001", "aiRedoEnabled": True}

    report = report_for(tmp_path, data)

    assert report.problems == ()
    generation = report.workflows[0].generation
    assert generation.model_info.provider == "veo"
    assert generation.needs_vertex == "it makes a video with veo-3.1-fast-generate-001 (Veo)"
    assert not generation.redo_enabled  # no Reroll or Upscale on a video

    del ask[3]["validation"]
    problem = only_problem(report_for(tmp_path, data).problems)
    assert "makes a video from one image" in problem.message
