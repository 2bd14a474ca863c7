"""A small valid workflow to mutate in tests, and helpers to load workflows from a folder."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from bot.config import EXAMPLE_CONFIG, Settings, load_settings
from bot.workflows.loader import WorkflowReport, load_workflows, read_workflows
from bot.workflows.workflow import Workflow

REPO = Path(__file__).resolve().parents[2]
SETTINGS = load_settings(EXAMPLE_CONFIG)

_SAMPLE: dict[str, Any] = {
    "id": "sample",
    "name": "A sample workflow",
    "stages": [
        {
            "id": "ask",
            "inputType": "form",
            "outputType": "json",
            "formFields": [
                {
                    "name": "userPrompt",
                    "label": "Prompt",
                    "type": "textarea",
                    "validation": {"required": True, "minLength": 3, "maxLength": 100},
                },
                {
                    "name": "aspectRatio",
                    "label": "Aspect ratio",
                    "type": "select",
                    "defaultValue": "1:1",
                    "options": [
                        {"value": "1:1", "label": "Square"},
                        {"value": "16:9", "label": "Wide"},
                        {"value": "model_default", "label": "Model default"},
                    ],
                },
                {
                    "name": "count",
                    "label": "Count",
                    "type": "number",
                    "validation": {"min": 1, "max": 5},
                },
                {"name": "photo", "label": "Photo", "type": "image"},
            ],
        },
        {
            "id": "make",
            "inputType": "none",
            "outputType": "image",
            "dependencies": ["ask"],
            "promptTemplate": "Draw {{ask.output.userPrompt}} x{{ask.output.count}}. "
            "{{config.imageGenerationSettings.styleGuidanceInternal}}",
            "imageGenerationSettings": {
                "styleGuidanceInternal": "Moody light.",
                "negativePrompt": "text",
            },
        },
    ],
}


def sample() -> dict[str, Any]:
    """A fresh copy of the sample workflow (ask: form stage, make: the image stage)."""
    return copy.deepcopy(_SAMPLE)


def imagen_sample() -> dict[str, Any]:
    """The sample written for Imagen (no image field, ratios Imagen offered), which Google
    has shut down: it runs on the replacement."""
    data = sample()
    data["stages"][0]["formFields"].pop()  # the image field
    data["stages"][1]["model"] = "imagen-4.0-generate-001"
    data["stages"][1]["imageGenerationSettings"]["provider"] = "imagen"
    data["stages"][1]["imageGenerationSettings"]["imagen"] = {
        "numberOfImages": 4,
        "personGeneration": "dont_allow",
    }
    return data


def write(folder: Path, name: str, content: dict[str, Any] | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    text = content if isinstance(content, str) else json.dumps(content, indent=2)
    path.write_text(text, encoding="utf-8")
    return path


def report_for(
    folder: Path, *contents: dict[str, Any] | str, settings: Settings = SETTINGS
) -> WorkflowReport:
    """Read these workflows (written as w0.json, w1.json, ...) from `folder`."""
    for i, content in enumerate(contents):
        write(folder, f"w{i}.json", content)
    return read_workflows(folder, settings)


def load_one(
    folder: Path, content: dict[str, Any] | str, settings: Settings = SETTINGS
) -> Workflow:
    write(folder, "w.json", content)
    (workflow,) = load_workflows(folder, settings).workflows
    return workflow
