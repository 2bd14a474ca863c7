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


class ModelInfo(_Section):
    provider: Literal["gemini"]
    output: Literal["image", "text"] = "image"
    label: Annotated[str, Field(min_length=1, max_length=100)]
    max_input_images: Annotated[int, Field(ge=0)]
    aspect_ratios: list[str]
    image_sizes: list[str]
    default_size: str
    price_usd: dict[str, Annotated[float, Field(ge=0)]]
    input_usd_per_mtok: NonNegativeFloat = 0.0  # per million input tokens (0: not priced)
    input_image_tokens: NonNegativeInt = 0  # input tokens one image counts as
    output_usd_per_mtok: NonNegativeFloat = 0.0  # per million output tokens (text models)

    @model_validator(mode="after")
    def _sizes_are_consistent(self) -> ModelInfo:
        if self.default_size and self.default_size not in self.image_sizes:
            raise ValueError(
                f"default_size {self.default_size!r} is not one of image_sizes {self.image_sizes}"
            )
        if len(self.aspect_ratios) > 25:
            raise ValueError("at most 25 aspect_ratios (Discord's limit on choices)")
        return self

    def price_for(self, size: str | None) -> float:
        """Approximate price of one output image of `size` (the default size when None)."""
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
    thinking_level: Literal["MINIMAL", "LOW", "MEDIUM", "HIGH"] | None = None


class ModelsSettings(_Section):
    default: str
    describe: str
    imagen_default: str
    catalog: dict[str, ModelInfo]
    retired: dict[str, RetiredModel]

    @model_validator(mode="after")
    def _models_are_in_catalog(self) -> ModelsSettings:
        known = ", ".join(sorted(self.catalog))
        if self.default not in self.catalog:
            raise ValueError(f"default model {self.default!r} is not in the catalog ({known})")
        if self.catalog[self.default].output != "image":
            raise ValueError(f"default model {self.default!r} makes no images (output = text)")
        describe = self.catalog.get(self.describe)
        if describe is None or describe.output != "text":
            raise ValueError(
                f"describe model {self.describe!r} must be a model of the catalog with "
                f'output = "text" ({known})'
            )
        for old, retired in self.retired.items():
            replacement = self.catalog.get(retired.replacement)
            if replacement is None or replacement.output != "image":
                raise ValueError(
                    f"the replacement of retired model {old!r}, {retired.replacement!r}, is "
                    f"not an image model of the catalog ({known})"
                )
        if self.imagen_default not in self.retired:
            raise ValueError(
                f"imagen_default {self.imagen_default!r} is not one of the retired models"
            )
        return self

    def info(self, model: str) -> ModelInfo:
        return self.catalog[model]


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
    shutdown_grace_s: Annotated[float, Field(ge=0)]


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
        raise ConfigError(f"{path}: {where} {reason}.{more}") from None


def _describe(loc: tuple[str, ...]) -> str:
    """("gemini", "timeout_s") -> "[gemini] timeout_s"; nested tables are dotted."""
    if not loc:
        return "the file"
    if len(loc) == 1:
        return f"[{loc[0]}]"
    return f"[{'.'.join(loc[:-1])}] {loc[-1]}"
