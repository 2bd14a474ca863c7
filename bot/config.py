"""Settings: `config.example.toml` holds every default, `config.toml` overrides any of them.

The example file is the single source of defaults (so model ids never live in Python): the
user's file is merged over it, table by table, and the result is validated by pydantic.
Secrets are refused here; they come from the environment (`bot.credentials`).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.database_url import has_password, is_postgres_url
from bot.errors import ConfigError
from bot.jobs.shards import Shards

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = REPO_ROOT / "config.example.toml"
DEFAULT_CONFIG_NAME = "config.toml"

# Keys that look like secrets. Finding one in a TOML file is an error, whatever its table.
_SECRET_WORDS = ("token", "api_key", "apikey", "secret", "password", "credential")
# ...except counts of model tokens, such as `input_image_tokens`.
_NOT_SECRET = "tokens"

PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiscordSettings(_Section):
    api_base_url: str
    gateway_url: str
    guild_ids: list[int]
    shard_count: NonNegativeInt  # 0: as many as Discord recommends, all in this process
    shard_ids: list[NonNegativeInt]  # []: every shard of shard_count

    @model_validator(mode="after")
    def _shards_are_consistent(self) -> DiscordSettings:
        if self.shard_ids and not self.shard_count:
            raise ValueError("shard_ids needs shard_count (the same number in every process)")
        if len(set(self.shard_ids)) != len(self.shard_ids):
            raise ValueError(f"shard_ids {self.shard_ids} names a shard twice")
        outside = [i for i in self.shard_ids if i >= self.shard_count]
        if outside:
            raise ValueError(
                f"shard_ids {outside} are not below shard_count ({self.shard_count}): shards "
                f"are numbered 0 to {self.shard_count - 1}"
            )
        return self

    def shards(self) -> Shards:
        """The shards this process connects."""
        if not self.shard_count:
            return Shards()
        return Shards.of(self.shard_count, self.shard_ids or None)


class GeminiSettings(_Section):
    base_url: str
    api_version: str
    worker_processes: Annotated[int, Field(ge=0, le=64)] | Literal["auto"]
    timeout_s: PositiveFloat
    retry_attempts: Annotated[int, Field(ge=1, le=10)]
    retry_initial_delay_s: Annotated[float, Field(ge=0)]
    retry_max_delay_s: Annotated[float, Field(ge=0)]

    def worker_count(self, cpus: int | None = None) -> int:
        """How many worker processes make Gemini calls: "auto" leaves one core to the bot's
        event loop and uses the others (none on a single core)."""
        if self.worker_processes != "auto":
            return self.worker_processes
        cpus = cpus if cpus is not None else (os.cpu_count() or 1)
        return max(0, cpus - 1)


ThinkingLevel = Literal["MINIMAL", "LOW", "MEDIUM", "HIGH"]
# "gemini": native image models (generateContent); "veo": image-to-video (Vertex AI only);
# "upscale": Imagen's faithful upscaler (upscale_image, Vertex AI only).
ModelProvider = Literal["gemini", "veo", "upscale"]
VERTEX_ONLY_PROVIDERS = frozenset({"veo", "upscale"})


class ModelInfo(_Section):
    provider: ModelProvider
    output: Literal["image", "text"] = "image"
    label: Annotated[str, Field(min_length=1, max_length=100)]
    max_input_images: Annotated[int, Field(ge=0)]
    aspect_ratios: list[str]
    image_sizes: list[str]  # a video model's resolutions, an upscaler's factors
    default_size: str
    price_usd: dict[str, Annotated[float, Field(ge=0)]] = {}
    input_usd_per_mtok: NonNegativeFloat = 0.0  # per million input tokens (0: not priced)
    input_image_tokens: NonNegativeInt = 0  # input tokens one image counts as
    output_usd_per_mtok: NonNegativeFloat = 0.0  # per million output tokens (text models)
    grounding: bool = False  # accepts the Google Search tool
    thought_images: bool = False  # shows interim "thought" images while it thinks
    thinking_levels: list[ThinkingLevel] = []  # the levels it accepts ([]: none can be set)
    thinking_level: ThinkingLevel | None = None  # sent with every request (None: its own)
    # Video ("veo") models: the lengths offered, the default, the price of a second.
    durations_s: list[PositiveInt] = []
    default_duration_s: NonNegativeInt = 0
    usd_per_second: NonNegativeFloat = 0.0
    generate_audio: bool = False

    @model_validator(mode="after")
    def _sizes_are_consistent(self) -> ModelInfo:
        if self.default_size and self.default_size not in self.image_sizes:
            raise ValueError(
                f"default_size {self.default_size!r} is not one of image_sizes {self.image_sizes}"
            )
        if len(self.aspect_ratios) > 25:
            raise ValueError("at most 25 aspect_ratios (Discord's limit on choices)")
        if self.thinking_level and self.thinking_level not in self.thinking_levels:
            raise ValueError(
                f"thinking_level {self.thinking_level!r} is not one of thinking_levels "
                f"{self.thinking_levels} (the levels the model accepts)"
            )
        if self.provider != "gemini" and (
            self.grounding or self.thought_images or self.thinking_levels
        ):
            raise ValueError(
                "grounding, thought_images and thinking_levels apply to gemini models only"
            )
        if self.provider == "veo":
            self._check_video()
        elif self.durations_s or self.usd_per_second or self.generate_audio:
            raise ValueError(
                "durations_s, usd_per_second and generate_audio apply to veo models only"
            )
        elif not self.price_usd and self.output == "image":
            raise ValueError("price_usd is missing: the price of one output image, by size")
        if self.output == "text" and (self.provider != "gemini" or self.price_usd):
            raise ValueError(
                'a model with output = "text" is a gemini model priced by its tokens '
                "(input_usd_per_mtok, output_usd_per_mtok), without price_usd"
            )
        return self

    def _check_video(self) -> None:
        if not self.durations_s or self.default_duration_s not in self.durations_s:
            raise ValueError(
                "a veo model needs durations_s (the video lengths it offers, in seconds) and "
                "a default_duration_s among them"
            )
        if not self.usd_per_second:
            raise ValueError("a veo model needs usd_per_second (its price per second of video)")
        if self.max_input_images < 1:
            raise ValueError("a veo model animates an image: max_input_images must be 1 or more")

    def price_for(self, size: str | None, duration_s: int | None = None) -> float:
        """Approximate price of one output of `size` (the default size when None); for a
        video, of `duration_s` seconds (the default length when None)."""
        if self.provider == "veo":
            return self.usd_per_second * (duration_s or self.default_duration_s)
        key = size or self.default_size or "default"
        return self.price_usd.get(key, max(self.price_usd.values(), default=0.0))

    def input_price(self, tokens: int) -> float:
        """Price of `tokens` input tokens (text and images)."""
        return tokens * self.input_usd_per_mtok / 1_000_000

    def output_price(self, tokens: int) -> float:
        """Price of `tokens` output tokens of a text model (thinking included)."""
        return tokens * self.output_usd_per_mtok / 1_000_000


class RetiredModel(_Section):
    """A model Google shut down, and what runs in its place."""

    replacement: str
    thinking_level: ThinkingLevel | None = None


class ModelsSettings(_Section):
    default: str
    describe: str
    imagen_default: str
    catalog: dict[str, ModelInfo]
    retired: dict[str, RetiredModel]

    @model_validator(mode="after")
    def _models_are_in_catalog(self) -> ModelsSettings:
        known = ", ".join(sorted(self.image_models()))
        if self.default not in self.image_models():
            raise ValueError(
                f"default model {self.default!r} is not a gemini image model of the catalog "
                f"({known})"
            )
        describe = self.catalog.get(self.describe)
        if describe is None or describe.provider != "gemini" or describe.output != "text":
            raise ValueError(
                f"describe model {self.describe!r} must be a gemini model of the catalog with "
                f'output = "text" ({", ".join(sorted(self.catalog))})'
            )
        for old, retired in self.retired.items():
            replacement = self.image_models().get(retired.replacement)
            if replacement is None:
                raise ValueError(
                    f"the replacement of retired model {old!r}, {retired.replacement!r}, is "
                    f"not a gemini image model of the catalog ({known})"
                )
            levels = replacement.thinking_levels
            if retired.thinking_level and retired.thinking_level not in levels:
                raise ValueError(
                    f"retired model {old!r} runs on {retired.replacement!r} with thinking level "
                    f"{retired.thinking_level}, which that model does not accept "
                    f"(its thinking_levels: {levels})"
                )
        if self.imagen_default not in self.retired:
            raise ValueError(
                f"imagen_default {self.imagen_default!r} is not one of the retired models"
            )
        return self

    def info(self, model: str) -> ModelInfo:
        return self.catalog[model]

    def image_models(self) -> dict[str, ModelInfo]:
        """The native Gemini image models of the catalog (not its text models)."""
        return {
            name: info
            for name, info in self.catalog.items()
            if info.provider == "gemini" and info.output == "image"
        }

    def with_provider(self, name: str, provider: str, setting: str) -> None:
        """ValueError unless `name` is a catalog model of `provider` (for `setting`)."""
        info = self.catalog.get(name)
        if info is None or info.provider != provider:
            known = sorted(m for m, i in self.catalog.items() if i.provider == provider)
            article = "an" if provider[0] in "aeiou" else "a"
            raise ValueError(
                f"{setting} {name!r} is not {article} {provider} model of the catalog "
                f"({', '.join(known) or f'add one with provider = {provider!r}'})"
            )


class StorageSettings(_Section):
    path: Path
    url: str  # PostgreSQL instead of SQLite at `path`, when set
    retention_days: PositiveInt

    @field_validator("url")
    @classmethod
    def _url_is_postgres(cls, url: str) -> str:
        if url and not is_postgres_url(url):
            raise ValueError(
                "must be a postgresql:// URL, or empty to use SQLite at [storage] path"
            )
        return url


class JobSettings(_Section):
    max_concurrent: PositiveInt | Literal["auto"]
    max_concurrent_start: PositiveInt
    max_concurrent_limit: PositiveInt
    max_concurrent_per_user: PositiveInt
    progress_interval_s: PositiveFloat
    running_edit_after_s: Annotated[float, Field(ge=0)]
    takeover_after_s: Annotated[float, Field(ge=5)]
    shutdown_grace_s: Annotated[float, Field(ge=0)]
    thought_previews_s: NonNegativeFloat  # least time between two preview edits (0: none)


class VideoSettings(_Section):
    """Animate: an image to a short video with a Veo model (Vertex AI only)."""

    model: str  # "" = no Animate
    poll_interval_s: PositiveFloat
    max_wait_s: PositiveFloat


class UpscaleSettings(_Section):
    """Upscale (faithful): Imagen's upscaler, which keeps every pixel's content (Vertex AI)."""

    faithful_model: str  # "" = not offered
    factor: str


class PromptSettings(_Section):
    max_chars: Annotated[int, Field(ge=1, le=6000)]


class ImagineSettings(_Section):
    default_count: Annotated[int, Field(ge=1, le=4)]


class ReferenceSettings(_Section):
    max_per_member: NonNegativeInt
    max_per_server: NonNegativeInt


class ConversationSettings(_Section):
    who_can_refine: Literal["owner", "anyone"]
    max_history_turns: PositiveInt
    history_budget_mb: PositiveFloat


class UploadSettings(_Section):
    max_file_mb: PositiveFloat
    max_edge_px: Annotated[int, Field(ge=64, le=8192)]
    max_pixels: PositiveInt

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


class WorkflowSettings(_Section):
    directory: Path


class RoleQuota(_Section):
    """What members with one role get instead of the default; unset limits keep it."""

    member_daily_images: NonNegativeInt | None = None
    member_daily_usd: NonNegativeFloat | None = None
    member_max_waiting: NonNegativeInt | None = None
    cooldown_s: NonNegativeFloat | None = None


class QuotaSettings(_Section):
    member_daily_images: NonNegativeInt
    member_daily_usd: NonNegativeFloat
    guild_daily_usd: NonNegativeFloat
    bot_daily_usd: NonNegativeFloat
    member_max_waiting: NonNegativeInt
    cooldown_s: NonNegativeFloat
    reset_hour_utc: Annotated[int, Field(ge=0, le=23)]
    confirm_above_usd: NonNegativeFloat
    roles: dict[str, RoleQuota] = {}

    @field_validator("roles")
    @classmethod
    def _roles_are_ids(cls, roles: dict[str, RoleQuota]) -> dict[str, RoleQuota]:
        for key in roles:
            if not key.isdigit():
                raise ValueError(
                    f'tables are named by role id (a number, as [quotas.roles."1234..."]), '
                    f"and {key!r} is not one; copy the id with Developer Mode on"
                )
        return roles


class AccessSettings(_Section):
    guild_ids: list[int]
    channel_ids: list[int]
    role_ids: list[int]
    blocked_terms: list[Annotated[str, Field(min_length=1)]]


class ModerationSettings(_Section):
    log_channel_id: NonNegativeInt


class ObservabilitySettings(_Section):
    http_host: str
    http_port: Annotated[int, Field(ge=0, le=65535)]  # 0: no HTTP server
    log_format: Literal["text", "json"]


class Settings(_Section):
    discord: DiscordSettings
    gemini: GeminiSettings
    models: ModelsSettings
    storage: StorageSettings
    jobs: JobSettings
    prompts: PromptSettings
    imagine: ImagineSettings
    references: ReferenceSettings
    conversations: ConversationSettings
    uploads: UploadSettings
    workflows: WorkflowSettings
    quotas: QuotaSettings
    access: AccessSettings
    moderation: ModerationSettings
    observability: ObservabilitySettings
    video: VideoSettings
    upscale: UpscaleSettings

    @model_validator(mode="after")
    def _features_have_their_models(self) -> Settings:
        models = self.models
        if self.video.model:
            models.with_provider(self.video.model, "veo", "[video] model")
        if self.upscale.faithful_model:
            models.with_provider(self.upscale.faithful_model, "upscale", "[upscale] faithful_model")
            info = models.info(self.upscale.faithful_model)
            if self.upscale.factor not in info.image_sizes:
                raise ValueError(
                    f"[upscale] factor {self.upscale.factor!r} is not one of the factors "
                    f"{self.upscale.faithful_model} offers ({', '.join(info.image_sizes)})"
                )
        return self

    def vertex_only_features(self) -> list[str]:
        """The settings that need Vertex AI (refused at start-up with an API key)."""
        features = []
        if self.video.model:
            features.append(f"[video] model ({self.video.model}: Animate)")
        if self.upscale.faithful_model:
            features.append(f"[upscale] faithful_model ({self.upscale.faithful_model})")
        return features


def load_settings(path: Path | None = None) -> Settings:
    """Load settings from `path`, else `./config.toml` if present, else the example's defaults.

    Raises ConfigError with one readable message naming the file, the setting and the fix.
    """
    defaults = _read_toml(EXAMPLE_CONFIG)
    if path is None and Path(DEFAULT_CONFIG_NAME).is_file():
        path = Path(DEFAULT_CONFIG_NAME)
    if path is None:
        return _validate(defaults, EXAMPLE_CONFIG)
    overrides = _read_toml(path)
    _refuse_secrets(overrides, path)
    _refuse_database_password(overrides, path)
    return _validate(_merge(defaults, overrides), path)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist. Check the --config path.") from None
    except OSError as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc.strerror}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}. Compare it with config.example.toml."
        ) from None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value in `override` replaces the default."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged


def _refuse_secrets(data: dict[str, Any], path: Path, where: tuple[str, ...] = ()) -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            _refuse_secrets(value, path, (*where, key))
        elif any(word in key.lower().replace(_NOT_SECRET, "") for word in _SECRET_WORDS):
            raise ConfigError(
                f"{path}: {_describe((*where, key))} looks like a secret, and secrets are never "
                "read from files. Delete it from the file and set the environment variable "
                "instead (DISCORD_TOKEN, GEMINI_API_KEY); see the README."
            )


def _refuse_database_password(data: dict[str, Any], path: Path) -> None:
    storage = data.get("storage")
    url = storage.get("url") if isinstance(storage, dict) else None
    if isinstance(url, str) and has_password(url):
        # The message never repeats the URL: it holds the password.
        raise ConfigError(
            f"{path}: [storage] url contains a password, and passwords are never read from "
            "files. Remove it from the URL and set PGPASSWORD in the environment (or put the "
            "whole URL in DATABASE_URL instead); see the README."
        )


def _validate(data: dict[str, Any], path: Path) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _describe(tuple(str(part) for part in first["loc"]))
        got = first.get("input")
        got_text = "" if isinstance(got, dict) else f" (got {got!r})"
        if first["type"] == "extra_forbidden":
            reason = "is not a known setting; check its spelling against config.example.toml"
        else:
            message = first["msg"].removeprefix("Value error, ").removeprefix("Input ")
            reason = f"{message[0].lower()}{message[1:]}{got_text}"
        extra = exc.error_count() - 1
        more = f" ({extra} more problem(s) after this one)" if extra else ""
        where = f"{where} " if first["loc"] else ""  # a rule across sections names them
        raise ConfigError(f"{path}: {where}{reason}.{more}") from None


def _describe(loc: tuple[str, ...]) -> str:
    """("gemini", "timeout_s") -> "[gemini] timeout_s"; nested tables are dotted."""
    if not loc:
        return "the file"
    if len(loc) == 1:
        return f"[{loc[0]}]"
    return f"[{'.'.join(loc[:-1])}] {loc[-1]}"
