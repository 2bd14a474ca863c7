"""Reading what the fakes recorded: message components, embeds, Gemini request contents."""

from __future__ import annotations

import base64
import re
import socket
from typing import Any

from google.genai import types

from bot.store import HistoryLimits, Store
from bot.store.codec import rehydrate
from tests.fakes.fake_gemini import GeminiRequest


def free_port() -> int:
    """A port nothing listens on (until something binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Json = dict[str, Any]

WIDE = HistoryLimits(max_turns=50, max_images=50, max_bytes=1 << 30)


async def thread_history(store: Store, thread_id: str | int) -> list[types.Content]:
    """Everything the conversation in `thread_id` would send back with its next edit."""
    conversation = await store.get_conversation(int(thread_id))
    assert conversation is not None
    assert conversation.head_job is not None
    return [rehydrate(turn) for turn in await store.history(conversation.head_job, WIDE)]


def walk(component: Any) -> list[Json]:
    """Every component in a (nested) component tree: rows, labels, sections' accessories,
    and what they hold."""
    if isinstance(component, list):
        return [c for item in component for c in walk(item)]
    if not isinstance(component, dict):
        return []
    inner = [component.get(key) for key in ("components", "component", "accessory")]
    return [component, *(c for found in inner for c in walk(found))]


def components(message: Json) -> list[Json]:
    return [c for c in walk(message.get("components") or []) if c.get("type") != 1]


def button_labels(message: Json) -> list[str]:
    return [c["label"] for c in components(message) if c.get("type") == 2]


def custom_id(message: Json, label: str) -> str:
    (found,) = [c["custom_id"] for c in components(message) if c.get("label") == label]
    return str(found)


V2 = 1 << 15  # the IS_COMPONENTS_V2 message flag


def is_card(message: Json) -> bool:
    """The message shows a job's outcome: an embed, or a Components V2 result card."""
    return bool(message.get("embeds")) or bool(message.get("flags", 0) & V2)


def texts(message: Json) -> list[str]:
    """The text displays of a V2 message, in order."""
    return [c["content"] for c in walk(message.get("components") or []) if c.get("type") == 10]


def card_text(message: Json) -> str:
    """Everything a member reads on the card: text displays, or the embed's texts."""
    if message.get("flags", 0) & V2:
        return "\n".join(texts(message))
    embed = message["embeds"][0]
    parts = [embed.get("title"), embed.get("description"), (embed.get("footer") or {}).get("text")]
    parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(p for p in parts if p)


def job_id(message: Json) -> str:
    match = re.search(r"Job `?([a-z2-9]{8})", card_text(message))
    assert match, card_text(message)
    return match.group(1)


def prompt_of(message: Json) -> str:
    """The prompt a result card shows (its first text display, a quote)."""
    (prompt, *_) = [t for t in texts(message) if t.startswith(">")]
    return "\n".join(line.removeprefix("> ").removeprefix(">") for line in prompt.splitlines())


def details(message: Json) -> list[str]:
    """The parts of a result card's details line (model, size, ratio, cost, time, job)."""
    (line,) = [t for t in texts(message) if "Job `" in t]
    return line.removeprefix("-# ").split(" · ")


def gallery(message: Json) -> list[Json]:
    """The media gallery items of a result card."""
    (found,) = [c for c in walk(message.get("components") or []) if c.get("type") == 12]
    return list(found["items"])


def section(message: Json, heading: str) -> list[str]:
    """The lines under a bold heading of a result card ("Sources", "Google searches");
    [] when it has none."""
    for text in texts(message):
        first, *lines = text.splitlines()
        if first == f"**{heading}**":
            return lines
    return []


def fields(message: Json) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message["embeds"][0].get("fields", [])}


def user_texts(request: GeminiRequest) -> list[str]:
    """The text of every user turn in the request, history included, oldest first."""
    return [
        part["text"]
        for content in request.contents
        if content.get("role", "user") == "user"
        for part in content["parts"]
        if "text" in part
    ]


def b64(text: str) -> bytes:
    """Either base64 alphabet (the SDK sends URL-safe, the API answers standard)."""
    return base64.b64decode(text.replace("-", "+").replace("_", "/") + "==")


def normalized(content: Json) -> Json:
    """A content with wire-format spelling differences removed (mime_type vs mimeType,
    base64 alphabets), so what was answered and what came back can be compared exactly."""
    parts = []
    for part in content["parts"]:
        part = dict(part)
        if "inlineData" in part:
            blob = part.pop("inlineData")
            part["inlineData"] = (blob.get("mimeType") or blob.get("mime_type"), b64(blob["data"]))
        if "thoughtSignature" in part:
            part["thoughtSignature"] = b64(part["thoughtSignature"])
        parts.append(part)
    return {"role": content["role"], "parts": parts}


def model_contents(request: GeminiRequest) -> list[Json]:
    return [normalized(c) for c in request.contents if c.get("role") == "model"]


def answered_content(request: GeminiRequest) -> Json:
    """The model content the fake answered `request` with."""
    return normalized(request.answer_json["candidates"][0]["content"])
