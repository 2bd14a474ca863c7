"""A workflow as the loader leaves it: validated, with every default and the model resolved."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.config import ModelInfo
from bot.workflows.schema import FormField, Modality
from bot.workflows.templates import FieldRef, Template

ASPECT_RATIO_FIELDS = ("aspectRatio", "aspect_ratio")
IMAGE_SIZE_FIELDS = ("imageSize", "image_size")
COUNT_FIELDS = ("numberOfImages", "number_of_images")
MAX_COUNT = 4  # images side by side: one model call each
# A select value meaning "send nothing, let the model choose".
MODEL_DEFAULT = "model_default"


@dataclass(frozen=True)
class Option:
    """A form field as a slash-command option."""

    name: str  # the Discord option name
    description: str
    field: FormField
    stage: str  # id of the form stage the field belongs to

    @property
    def ref(self) -> FieldRef:
        return FieldRef(self.stage, self.field.name)

    @property
    def label(self) -> str:
        return self.field.label or self.field.name

    @property
    def required(self) -> bool:
        return self.field.validation.required


@dataclass(frozen=True)
class Generation:
    """The stage that makes the image, with its model resolved against the catalog."""

    stage: str
    model: str
    model_info: ModelInfo
    thinking_level: str | None  # a retired model's replacement may need one
    template: Template | None  # None: the prompt is `prompt_field`'s value as is
    prompt_field: FieldRef | None
    negative_prompt: str
    count: int  # images side by side (an Imagen stage's numberOfImages)
    response_modalities: tuple[Modality, ...]
    auto_run: bool
    redo_enabled: bool
    tools: tuple[str, ...] = ()  # "google_search"
    person_generation: str | None = None  # Vertex AI only
    safety: tuple[tuple[str, str], ...] = ()  # (harm category, threshold)

    @property
    def needs_vertex(self) -> str | None:
        """Why this stage needs Vertex AI (None when it does not)."""
        if self.model_info.provider == "veo":
            return f"it makes a video with {self.model} (Veo)"
        if self.person_generation:
            return "it sets personGeneration"
        return None


@dataclass(frozen=True)
class Workflow:
    id: str
    name: str
    source: Path
    command: str
    description: str
    options: tuple[Option, ...]  # in Discord's order: required options first
    generation: Generation

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    def option_for_field(self, names: tuple[str, ...]) -> Option | None:
        """The option of the first form field called one of `names`."""
        return next((o for o in self.options if o.field.name in names), None)
