"""What needs Vertex AI: refused at start-up (and by `check`) when the bot uses an API key.

In google-genai 3.x Veo (generate_videos), Imagen's upscaler (upscale_image) and Gemini's
personGeneration image setting exist only on Vertex AI; the SDK raises at the first call.
The bot says so before it connects instead, naming each setting and workflow.
"""

from __future__ import annotations

from bot.config import Settings
from bot.credentials import GeminiAuth
from bot.errors import ConfigError
from bot.workflows.loader import LoadedWorkflows


def vertex_only(settings: Settings, workflows: LoadedWorkflows) -> list[str]:
    """Every setting and workflow that needs Vertex AI, in words."""
    needs = settings.vertex_only_features()
    for workflow in workflows.workflows:
        reason = workflow.generation.needs_vertex
        if reason:
            needs.append(f"/{workflow.command} ({workflow.source.name}: {reason})")
    return needs


def require_vertex(settings: Settings, workflows: LoadedWorkflows, auth: GeminiAuth) -> None:
    """ConfigError when the bot uses an API key and something needs Vertex AI."""
    if auth.vertexai:
        return
    needs = vertex_only(settings, workflows)
    if needs:
        raise ConfigError(
            "These need Vertex AI, but the bot uses a Gemini API key: "
            + "; ".join(needs)
            + ". Set GOOGLE_GENAI_USE_VERTEXAI=true with GOOGLE_CLOUD_PROJECT and "
            "GOOGLE_CLOUD_LOCATION (see the README), or remove them from config.toml and "
            "the workflows."
        )
