"""`python -m bot check --online`: ask Discord and Gemini, with the real credentials, whether
the bot can work. One `Finding` per check; the caller prints them and fails on any problem.

What can be known without spending money:
- Discord: the token (GET /users/@me; 401 = refused) and the Message Content intent (the
  application's flags, GATEWAY_MESSAGE_CONTENT or its _LIMITED variant for bots in fewer
  than 100 servers).
- Gemini: the key and every model the settings and workflows use, with models.get on the
  configured API version. Google's Model resource has no "output modalities" field, so a
  model counts as able to make images when it offers generateContent and its id says
  "image" (Google's naming for every native image-output Gemini model), or, for Imagen,
  when it offers predict. When one is missing, models.list shows the image models the key
  can use instead.
- Vertex AI: every model in use (Animate's and the upscaler's too) asked for by name; a
  model of the catalog that lists thinking levels must say it thinks (API key).
- Quota: the Gemini API has no free way to read a key's quota (AI Studio shows it, no API
  does). `--spend` makes one real image, the cheapest the default model offers, and reads
  the answer: an image means there is quota; a 429 says which quota is missing.

Secrets are sent in headers only and never printed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp
from google.genai import errors as genai_errors
from google.genai import types
from google.genai.client import AsyncClient

from bot import failures
from bot.config import ModelInfo, Settings
from bot.credentials import Credentials, GeminiAuth
from bot.errors import GenerationError
from bot.gemini import api_version, build_client
from bot.workflows.loader import read_workflows, workflows_directory

# Application flags (Discord: application object, application flags).
GATEWAY_MESSAGE_CONTENT = 1 << 18
GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 19
_TIMEOUT = aiohttp.ClientTimeout(total=20)
_UNREACHABLE = (aiohttp.ClientError, OSError, TimeoutError)


@dataclass(frozen=True)
class Finding:
    """One line of the report: ok True (✓), False (✗, a problem) or None (–, for information)."""

    ok: bool | None
    subject: str
    detail: str

    def line(self) -> str:
        mark = {True: "✓", False: "✗", None: "–"}[self.ok]
        return f"{mark} {self.subject}: {self.detail}"


async def online_findings(
    settings: Settings, credentials: Credentials, *, spend: bool = False
) -> list[Finding]:
    """Everything `check --online` reports, Discord first."""
    discord = await discord_findings(settings.discord.api_base_url, credentials.discord_token)
    gemini = await gemini_findings(settings, credentials.gemini, spend=spend)
    return discord + gemini


# --------------------------------------------------------------------------- Discord


async def discord_findings(api_base_url: str, token: str) -> list[Finding]:
    base = api_base_url.rstrip("/")
    headers = {"Authorization": f"Bot {token}", "User-Agent": "DiscordBot (gemini-bot, 1.0)"}
    async with aiohttp.ClientSession(headers=headers, timeout=_TIMEOUT) as session:
        try:
            async with session.get(f"{base}/users/@me") as response:
                if response.status == 401:
                    return [_refused_token()]
                if response.status != 200:
                    detail = f"Discord answered HTTP {response.status}"
                    return [Finding(False, "Discord token", detail)]
                user = await response.json()
            async with session.get(f"{base}/oauth2/applications/@me") as response:
                application = await response.json() if response.status == 200 else None
        except _UNREACHABLE as exc:
            return [Finding(False, "Discord", f"could not reach {base} ({type(exc).__name__})")]
    found = [Finding(True, "Discord token", f"accepted; the bot is {user.get('username', '?')}")]
    if application is None:
        return [*found, Finding(False, "Message Content intent", "the application is unreadable")]
    return [*found, _intent_finding(int(application.get("flags") or 0))]


def _refused_token() -> Finding:
    return Finding(
        False,
        "Discord token",
        "Discord refused DISCORD_TOKEN (wrong, or reset since). Copy a fresh token from the "
        "Bot page of your application in the Discord developer portal.",
    )


def _intent_finding(flags: int) -> Finding:
    if flags & (GATEWAY_MESSAGE_CONTENT | GATEWAY_MESSAGE_CONTENT_LIMITED):
        return Finding(True, "Message Content intent", "on")
    return Finding(
        False,
        "Message Content intent",
        "off, so the bot cannot read messages in its threads. Turn on 'Message Content "
        "Intent' on the Bot page of the Discord developer portal.",
    )


# --------------------------------------------------------------------------- Gemini


def models_in_use(settings: Settings) -> dict[str, ModelInfo]:
    """The default model, /describe's, Animate's and Upscale (faithful)'s, and every model a
    valid workflow uses, with its catalog entry."""
    report = read_workflows(workflows_directory(settings), settings)
    models = settings.models
    used = {models.default: models.info(models.default)}
    for extra in (models.describe, settings.video.model, settings.upscale.faithful_model):
        if extra:
            used[extra] = models.info(extra)
    for workflow in report.workflows:
        used.setdefault(workflow.generation.model, workflow.generation.model_info)
    return used


_DOES = {"gemini": "makes images", "veo": "makes videos", "upscale": "upscales images"}


async def vertex_findings(settings: Settings, auth: GeminiAuth) -> list[Finding]:
    """On Vertex AI: every model in use, asked for by name (publishers.models.get). Nothing
    is generated; Vertex AI has no free way to read quotas either."""
    client = build_client(settings.gemini, auth)
    found = []
    async with client.aio as aio:
        for model, info in models_in_use(settings).items():
            try:
                await aio.models.get(model=model)
            except genai_errors.APIError as exc:
                if _is_key_problem(exc):
                    return [_vertex_refused(exc)]
                found.append(_model_error(exc, model, "Vertex AI"))
                continue
            except _UNREACHABLE as exc:
                where = settings.gemini.base_url or "Vertex AI"
                return [
                    Finding(False, "Vertex AI", f"could not reach {where} ({type(exc).__name__})")
                ]
            does = "reads images (/describe)" if info.output == "text" else _DOES[info.provider]
            detail = f"available on Vertex AI, {does}"
            found.append(Finding(True, f"Model {model}", detail))
    return found


def _vertex_refused(exc: genai_errors.APIError) -> Finding:
    return Finding(
        False,
        "Vertex AI",
        f"refused the credentials (HTTP {exc.code}). Log in with `gcloud auth "
        "application-default login` and check GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION.",
    )


async def gemini_findings(settings: Settings, auth: GeminiAuth, *, spend: bool) -> list[Finding]:
    version = api_version(settings.gemini, auth)
    if auth.vertexai:
        return await vertex_findings(settings, auth)
    if version == "v1":
        return [
            Finding(
                False,
                "Gemini API version",
                "v1 refuses the image settings (responseModalities, imageConfig). Leave "
                "[gemini] api_version empty in config.toml (the bot then uses v1beta).",
            )
        ]
    used = models_in_use(settings)
    client = build_client(settings.gemini, auth)
    async with client.aio as aio:
        try:
            found = await _model_findings(aio, used, version or "")
            if any(f.ok is False for f in found):
                found.append(await _image_models_finding(aio))
            elif spend:
                found.append(await _quota_finding(aio, settings))
            else:
                found.append(_quota_not_checked(settings))
        except _KeyRefused:
            return [
                Finding(
                    False,
                    "Gemini key",
                    "Gemini refused the API key (GEMINI_API_KEY or GOOGLE_API_KEY): it is "
                    "wrong or was deleted. Create one at https://aistudio.google.com/apikey.",
                )
            ]
        except _UNREACHABLE as exc:
            where = settings.gemini.base_url or "Google's Gemini API"
            return [Finding(False, "Gemini", f"could not reach {where} ({type(exc).__name__})")]
    return [Finding(True, "Gemini key", "accepted"), *found]


class _KeyRefused(Exception):
    """Gemini refused the key: nothing else can be checked."""


async def _model_findings(
    aio: AsyncClient, used: dict[str, ModelInfo], version: str
) -> list[Finding]:
    found = []
    for model, info in used.items():
        try:
            resource = await aio.models.get(model=model)
        except genai_errors.APIError as exc:
            found.append(_model_error(exc, model, version))
            continue
        if info.output == "text":
            found.append(Finding(True, f"Model {model}", f"available on {version} (/describe)"))
        elif not _makes_images(resource, info.provider):
            found.append(Finding(False, f"Model {model}", "available, but it does not make images"))
        elif info.thinking_levels and resource.thinking is False:
            found.append(
                Finding(
                    False,
                    f"Model {model}",
                    "the catalog lists thinking_levels for it, but Gemini says it does not "
                    "think. Remove thinking_levels and thinking_level from its catalog entry.",
                )
            )
        else:
            found.append(Finding(True, f"Model {model}", f"available on {version}, makes images"))
    return found


def _model_error(exc: genai_errors.APIError, model: str, version: str) -> Finding:
    if _is_key_problem(exc):
        raise _KeyRefused from exc
    if exc.code == 404:
        where = version if version == "Vertex AI" else f"API version {version}"
        return Finding(
            False,
            f"Model {model}",
            f"not found on {where}: retired, renamed or not open to this key. "
            "Choose another model in config.toml ([models] default) or in the workflow.",
        )
    return Finding(False, f"Model {model}", f"Gemini answered HTTP {exc.code}: {exc.message}")


def _is_key_problem(exc: genai_errors.APIError) -> bool:
    return exc.code in (401, 403) or (exc.code == 400 and "API_KEY_INVALID" in str(exc.details))


def _makes_images(model: types.Model, provider: str) -> bool:
    """No API field says so (see the module docstring): decide by method and id."""
    methods = set(model.supported_actions or [])
    name = (model.name or "").removeprefix("models/")
    if provider == "imagen":
        return "predict" in methods
    return "generateContent" in methods and "image" in name and not name.startswith("imagen-")


async def _image_models_finding(aio: AsyncClient) -> Finding:
    pager = await aio.models.list()
    names = [
        (model.name or "").removeprefix("models/")
        async for model in pager
        if _makes_images(model, "gemini")
    ]
    return Finding(None, "Image models this key can use", ", ".join(sorted(names)) or "none")


def _quota_not_checked(settings: Settings) -> Finding:
    model, size, price = _cheapest_image(settings)
    return Finding(
        None,
        "Quota",
        "not checked: the Gemini API has no free way to read a key's quota. Add --spend to "
        f"make one real image ({model}, {size or 'default size'}, about ${price:.3f}).",
    )


def _cheapest_image(settings: Settings) -> tuple[str, str, float]:
    model = settings.models.default
    info = settings.models.info(model)
    sizes = info.image_sizes or [""]
    size = min(sizes, key=info.price_for)
    return model, size, info.price_for(size)


async def _quota_finding(aio: AsyncClient, settings: Settings) -> Finding:
    model, size, price = _cheapest_image(settings)
    config = types.GenerateContentConfig(
        response_modalities=["TEXT", "IMAGE"],
        image_config=types.ImageConfig(image_size=size) if size else None,
    )
    try:
        await aio.models.generate_content(
            model=model, contents="A small plain grey square.", config=config
        )
    except genai_errors.APIError as exc:
        return _refused_test_image(failures.classify(exc, model=model), exc)
    return Finding(True, "Quota", f"Gemini made a test image with {model} (about ${price:.3f})")


def _refused_test_image(error: GenerationError, exc: genai_errors.APIError) -> Finding:
    if error.kind == "no_quota":
        return Finding(
            False,
            "Quota",
            "none: the key's project may not use image models (limit 0). Enable billing for "
            "it in Google AI Studio (https://aistudio.google.com).",
        )
    if error.kind == "daily_quota":
        return Finding(False, "Quota", "today's quota is used up; it comes back tomorrow")
    if error.kind == "rate_limited":
        return Finding(True, "Quota", "there is quota, but the per-minute limit is reached now")
    return Finding(False, "Quota", f"the test image failed: HTTP {exc.code}: {exc.message}")


def problems_in(found: Iterable[Finding]) -> int:
    return sum(1 for finding in found if finding.ok is False)


def run(settings: Settings, credentials: Credentials, *, spend: bool) -> list[Finding]:
    return asyncio.run(online_findings(settings, credentials, spend=spend))
