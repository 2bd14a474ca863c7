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
    """Every component in a (nested) component tree: rows, labels, and what they hold."""
    if isinstance(component, list):
        return [c for item in component for c in walk(item)]
    if not isinstance(component, dict):
        return []
    return [component, *walk(component.get("components")), *walk(component.get("component"))]


def components(message: Json) -> list[Json]:
    return [c for c in walk(message.get("components") or []) if c.get("type") != 1]


def button_labels(message: Json) -> list[str]:
    return [c["label"] for c in components(message) if c.get("type") == 2]


def custom_id(message: Json, label: str) -> str:
    (found,) = [c["custom_id"] for c in components(message) if c.get("label") == label]
    return str(found)


def job_id(message: Json) -> str:
    match = re.search(r"Job ([a-z2-9]{8})", message["embeds"][0]["footer"]["text"])
    assert match, message["embeds"][0]["footer"]
    return match.group(1)


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
