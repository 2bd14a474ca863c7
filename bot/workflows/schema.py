"""The workflow file format, as pydantic models. `python -m bot.workflows.schema` prints the
JSON Schema (kept in `workflows/schema.json` for editors; a test keeps it in sync).

The format is the seed's `workflow.json` as written, keys in camelCase. Beyond the seed:

- `$schema` (top level): the editor schema, e.g. "schema.json". Ignored by the bot.
- `command` {`name`, `description`} (top level): the slash command. Defaults: the name from
  `id` (lower-case, other characters than letters, digits, - and _ become "-", at most 32),
  the description from `name` (at most 100 characters).
- per form field, `option` (the Discord option name; default: the field name in snake_case,
  `userPrompt` -> `user_prompt`) and `description` (1-100 characters; default: the label).
- `imageGenerationSettings.provider` may be left out: it is then the model's provider.
- field type `references`: names of saved reference images (/ref), brought in as images with
  a hint per kind; a select field named `imageSize` without options lists the model's sizes
  with their prices; a field named `numberOfImages` (a select of "1" to "4", or a number)
  chooses how many images are made side by side.

Unknown keys are errors, with a "did you mean" hint when a known key is close: a misspelt key
silently ignored would make a workflow behave differently from what its author reads, and
every key of the seed's example is known. The seed's `storeInFirebase` is accepted and has no
effect (results are posted to Discord and kept in the bot's database); `true` gets a warning.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from bot.workflows.naming import DESCRIPTION_LIMIT, MAX_TEXT_LENGTH, NAME_PATTERN

# "references": names from the member's (and the server's) reference library, saved with
# /ref save; comma-separated, with autocomplete. Their images go to the model with the prompt.
FieldType = Literal["textarea", "text", "select", "number", "image", "references"]
Provider = Literal["gemini", "imagen", "veo"]
PersonGeneration = Literal["dont_allow", "allow_adult", "allow_all"]
GeminiPersonGeneration = Literal["ALLOW_ALL", "ALLOW_ADULT", "ALLOW_NONE"]
Tool = Literal["google_search"]
HarmCategory = Literal[
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
]
BlockThreshold = Literal[
    "BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF"
]
Modality = Literal["TEXT", "IMAGE"]
GENERATION_OUTPUTS = ("image", "image_output")

# Editors check names against the pattern; the loader checks them with a readable message.
_CHECKED_BY_LOADER: dict[str, Any] = {"pattern": NAME_PATTERN}
DiscordText = Annotated[str, Field(min_length=1, max_length=DESCRIPTION_LIMIT)]


class _Strict(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True)


class Validation(_Strict):
    required: bool = False
    min_length: Annotated[int, Field(ge=0, le=MAX_TEXT_LENGTH)] | None = Field(
        None, description="text, textarea: fewest characters"
    )
    max_length: Annotated[int, Field(ge=1, le=MAX_TEXT_LENGTH)] | None = Field(
        None, description="text, textarea: most characters"
    )
    min: float | None = Field(None, description="number: smallest value")
    max: float | None = Field(None, description="number: largest value")


class Choice(_Strict):
    value: DiscordText = Field(description="what the template and the model receive")
    label: DiscordText = Field(description="what members see in Discord")


class FormField(_Strict):
    name: str = Field(min_length=1, description="referenced as {{stage-id.output.NAME}}")
    label: str = Field("", description="shown to members; the option's default description")
    type: FieldType
    placeholder: str = ""
    validation: Validation = Field(default_factory=Validation)
    default_value: str | float | None = Field(None, description="used when left empty")
    options: tuple[Choice, ...] = Field((), description="select: the choices (at most 25)")
    option: str | None = Field(
        None,
        description="Discord option name (default: the name in snake_case)",
        json_schema_extra=_CHECKED_BY_LOADER,
    )
    description: DiscordText | None = Field(
        None, description="Discord option description (default: the label)"
    )


class SafetySetting(_Strict):
    category: HarmCategory
    threshold: BlockThreshold


class GeminiSettings(_Strict):
    response_modalities: tuple[Modality, ...] = Field(
        ("TEXT", "IMAGE"), description="must include IMAGE"
    )
    person_generation: GeminiPersonGeneration | None = Field(
        None, description="Vertex AI only: whether images may show people (and children)"
    )
    safety_settings: tuple[SafetySetting, ...] = Field(
        (), description="how strictly each harm category is blocked (both APIs)"
    )


class ImagenSettings(_Strict):
    number_of_images: int = Field(1, ge=1, le=4)
    person_generation: PersonGeneration = "allow_adult"


class ImageGenerationSettings(_Strict):
    provider: Provider | None = Field(
        None,
        description="gemini, imagen (runs on its Gemini replacement) or veo (image to video, "
        "Vertex AI only); default: the model's provider",
    )
    style_guidance_internal: str = Field(
        "", description="text for {{config.imageGenerationSettings.styleGuidanceInternal}}"
    )
    gemini: GeminiSettings = Field(default_factory=GeminiSettings)
    imagen: ImagenSettings = Field(default_factory=ImagenSettings)
    negative_prompt: str = Field("", description="what the image should not show")
    store_in_firebase: bool = Field(False, description="accepted for compatibility; no effect")


class Stage(_Strict):
    id: str = Field(min_length=1)
    title: str = ""
    description: str = ""
    input_type: Literal["form", "none"]
    output_type: Literal["json", "image", "image_output"]
    form_fields: tuple[FormField, ...] = ()
    dependencies: tuple[str, ...] = Field((), description="ids of the stages this one reads")
    auto_run: bool = Field(True, description="false: show the briefing and ask to confirm")
    model: str | None = Field(None, description="a model of the catalog in config.toml")
    prompt_template: str | None = None
    tools: tuple[Tool, ...] = Field(
        (), description='["google_search"]: ground the image in Google Search results'
    )
    ai_redo_enabled: bool = False
    image_generation_settings: ImageGenerationSettings | None = None

    @property
    def generates_image(self) -> bool:
        return self.output_type in GENERATION_OUTPUTS


class Command(_Strict):
    name: str | None = Field(None, json_schema_extra=_CHECKED_BY_LOADER)
    description: DiscordText | None = None


class WorkflowFile(_Strict):
    schema_: str | None = Field(None, alias="$schema", description="for editors; ignored")
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    command: Command = Field(default_factory=Command)
    stages: tuple[Stage, ...] = Field(min_length=1)


def json_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **WorkflowFile.model_json_schema(by_alias=True),
        "title": "Workflow: one slash command of the Gemini image bot",
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


if __name__ == "__main__":
    print(json_schema_text(), end="")
