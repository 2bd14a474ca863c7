"""Why Gemini blocked a prompt or withheld an image, in plain words. Pure: no Discord, no I/O.

`assess_response` looks at a GenerateContentResponse and returns a `Block` when no usable image
came back: a blocked prompt (promptFeedback), a candidate stopped for a safety or other reason
(finishReason, plus Vertex finishMessage error codes), or a refusal (STOP with text only).
Reasons the SDK does not know yet still produce a useful report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from google.genai import types


@dataclass(frozen=True)
class ReasonInfo:
    category: str  # what happened, in plain words
    advice: str  # what the member can try
    retry_may_help: bool  # False positives are common for some reasons: a plain retry can pass


@dataclass(frozen=True)
class Rating:
    category: str  # e.g. "Sexually explicit"
    probability: str  # e.g. "HIGH"
    blocked: bool


@dataclass(frozen=True)
class Block:
    """A generation that produced no usable image, and why."""

    stage: Literal["prompt", "response"]  # was the request refused, or the result withheld?
    reason: str  # the API's reason code, exactly as given (e.g. "IMAGE_SAFETY")
    info: ReasonInfo
    api_message: str | None = None  # blockReasonMessage / finishMessage, as given
    code_category: str | None = None  # category of a Vertex finishMessage error code
    ratings: tuple[Rating, ...] = ()
    model_text: str | None = None  # what the model said (a refusal explains itself)


_REPHRASE = "Rephrase the prompt, describing the scene without the flagged element, or press Retry."
_RETRY_FIRST = "Filters sometimes flag harmless requests: press Retry, or rephrase the prompt."

PROMPT_REASONS: dict[str, ReasonInfo] = {
    "SAFETY": ReasonInfo("Your prompt was blocked by Gemini's safety filters.", _REPHRASE, True),
    "OTHER": ReasonInfo(
        "Your prompt was blocked for a reason Gemini did not specify.", _REPHRASE, True
    ),
    "BLOCKLIST": ReasonInfo(
        "Your prompt contains a term on Gemini's blocklist.",
        "Remove or replace unusual terms, names or brands, then try again.",
        False,
    ),
    "PROHIBITED_CONTENT": ReasonInfo(
        "Your prompt asks for content Google's policies prohibit.",
        "This request cannot be generated. Change what the image shows.",
        False,
    ),
    "IMAGE_SAFETY": ReasonInfo(
        "An image you attached was flagged by Gemini's image safety filters.",
        "Try a different image, or crop it to the part you want to edit.",
        True,
    ),
    "MODEL_ARMOR": ReasonInfo(
        "Your prompt was blocked by the service's protection policy (Model Armor).",
        _REPHRASE,
        False,
    ),
    "JAILBREAK": ReasonInfo(
        "Your prompt was flagged as an attempt to get around the safety rules.",
        "Describe the image you want directly, without instructions to the model about its rules.",
        False,
    ),
}

RESPONSE_REASONS: dict[str, ReasonInfo] = {
    "IMAGE_SAFETY": ReasonInfo(
        "The generated image was withheld by Gemini's image safety filters.", _RETRY_FIRST, True
    ),
    "IMAGE_PROHIBITED_CONTENT": ReasonInfo(
        "The generated image showed content Google's policies prohibit, so it was withheld.",
        "Change what the image shows; retrying the same prompt is unlikely to help.",
        False,
    ),
    "IMAGE_OTHER": ReasonInfo(
        "The generated image was withheld for a reason Gemini did not specify.", _RETRY_FIRST, True
    ),
    "IMAGE_RECITATION": ReasonInfo(
        "The generated image was too close to existing copyrighted material, so it was withheld.",
        "Ask for an original design instead of a specific existing character, logo or artwork.",
        True,
    ),
    "NO_IMAGE": ReasonInfo(
        "Gemini finished without producing an image.",
        "Ask explicitly for an image (e.g. start with 'Generate an image of'), or press Retry.",
        True,
    ),
    "SAFETY": ReasonInfo("The answer was stopped by Gemini's safety filters.", _RETRY_FIRST, True),
    "PROHIBITED_CONTENT": ReasonInfo(
        "The answer touched content Google's policies prohibit, so it was stopped.",
        "Change what the image shows; retrying the same prompt is unlikely to help.",
        False,
    ),
    "RECITATION": ReasonInfo(
        "The answer was too close to existing copyrighted material, so it was stopped.",
        "Ask for something original rather than a copy of an existing work.",
        True,
    ),
    "BLOCKLIST": ReasonInfo(
        "The answer contained a term on Gemini's blocklist, so it was stopped.",
        "Remove or replace unusual terms, names or brands, then try again.",
        False,
    ),
    "SPII": ReasonInfo(
        "The answer would have contained sensitive personal information, so it was stopped.",
        "Leave out personal details such as names with addresses, phone or ID numbers.",
        False,
    ),
    "OTHER": ReasonInfo("Gemini stopped for a reason it did not specify.", _RETRY_FIRST, True),
    "MAX_TOKENS": ReasonInfo(
        "Gemini ran out of room before finishing the image.",
        "Shorten the prompt or ask for less text alongside the image, then press Retry.",
        True,
    ),
    "LANGUAGE": ReasonInfo(
        "Gemini does not support the language of this prompt for images.",
        "Try the prompt in English, Spanish, Japanese, Chinese or Hindi.",
        False,
    ),
    "MALFORMED_RESPONSE": ReasonInfo(
        "Gemini produced a broken answer.", "This is usually temporary: press Retry.", True
    ),
    "MISSING_THOUGHT_SIGNATURE": ReasonInfo(
        "Gemini lost the context of this conversation.",
        "Start a new conversation with /imagine, attaching the last image to keep editing it.",
        False,
    ),
    "MODEL_ARMOR": ReasonInfo(
        "The answer was stopped by the service's protection policy (Model Armor).",
        _REPHRASE,
        False,
    ),
}

# Returned by the model as a reason we have no entry for (new enum values appear over time).
UNKNOWN_REASON = ReasonInfo(
    "Gemini stopped without an image, for a reason this bot does not know yet.", _RETRY_FIRST, True
)

REFUSAL = ReasonInfo(
    "Gemini answered with words instead of an image.",
    "Read its answer above: it usually says what it would not draw. Rephrase, or press Retry.",
    True,
)

# Imagen (Vertex AI) withheld every image it generated: its responsible-AI (RAI) filters.
RAI_FILTERED = ReasonInfo(
    "Imagen's safety filters withheld the generated image.",
    "Filters sometimes flag harmless requests: press Retry, or rephrase the prompt (people, "
    "faces and famous names are filtered most often).",
    True,
)

# Vertex AI puts an error code in finishMessage; these are the documented harm categories.
VERTEX_ERROR_CODES: dict[str, str] = {
    **dict.fromkeys(
        ("89371032", "49114662", "72817394", "11030041", "47555161", "32549819", "51891163"),
        "prohibited content (child safety)",
    ),
    "63429089": "sexual content",
    "87332966": "dangerous content",
    "22137204": "hate",
    "49257518": "a celebrity (photorealistic depictions of real famous people)",
    "65344558": "a celebrity (photorealistic depictions of real famous people)",
    "14952152": "other safety issues",
    "39322892": "people or faces, which the bot's settings do not allow",
    "17301594": "children, which the bot's settings do not allow",
    # Veo's support codes ("Responsible AI and usage guidelines for Veo").
    "58061214": "children, which the bot's settings do not allow",
    "29310472": "a celebrity (photorealistic depictions of real famous people)",
    "15236754": "a celebrity (photorealistic depictions of real famous people)",
}

HARM_CATEGORIES: dict[str, str] = {
    "HARM_CATEGORY_HARASSMENT": "Harassment",
    "HARM_CATEGORY_HATE_SPEECH": "Hate speech",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT": "Sexually explicit",
    "HARM_CATEGORY_DANGEROUS_CONTENT": "Dangerous content",
    "HARM_CATEGORY_CIVIC_INTEGRITY": "Civic integrity",
    "HARM_CATEGORY_IMAGE_HATE": "Hateful imagery",
    "HARM_CATEGORY_IMAGE_DANGEROUS_CONTENT": "Dangerous imagery",
    "HARM_CATEGORY_IMAGE_HARASSMENT": "Harassing imagery",
    "HARM_CATEGORY_IMAGE_SEXUALLY_EXPLICIT": "Sexually explicit imagery",
    "HARM_CATEGORY_JAILBREAK": "Jailbreak attempt",
}

# Finish reasons that mean "done normally": a missing image then is a refusal, not a block.
_NORMAL_FINISH = {"STOP", "FINISH_REASON_UNSPECIFIED", ""}
_RISKY = {"MEDIUM", "HIGH"}
_CODE = re.compile(r"\b(\d{8})\b")


def assess_response(
    response: types.GenerateContentResponse, *, images_expected: bool = True
) -> Block | None:
    """The block explaining why `response` has no final image, or None when it has one (or,
    for a text answer, when it is not blocked)."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        return _prompt_block(feedback)
    candidate = response.candidates[0] if response.candidates else None
    if candidate is None:
        return None  # nothing at all came back: a malformed answer, not a block
    parts = candidate.content.parts if candidate.content and candidate.content.parts else []
    if any(p.inline_data is not None and not p.thought for p in parts):
        return None  # an image came back: show it, whatever else the finish reason says
    reason = _name(candidate.finish_reason)
    text = " ".join(p.text.strip() for p in parts if p.text and not p.thought).strip() or None
    if reason not in _NORMAL_FINISH:
        return _response_block(reason, candidate, text)
    if text and images_expected:  # words instead of the image asked for: a refusal
        return Block(stage="response", reason=reason or "STOP", info=REFUSAL, model_text=text)
    return None


def reason_info(stage: Literal["prompt", "response"], reason: str) -> ReasonInfo:
    table = PROMPT_REASONS if stage == "prompt" else RESPONSE_REASONS
    return table.get(reason, UNKNOWN_REASON)


def vertex_code_category(message: str | None) -> str | None:
    """The harm category of the first documented error code in a Vertex finishMessage."""
    for code in _CODE.findall(message or ""):
        if code in VERTEX_ERROR_CODES:
            return VERTEX_ERROR_CODES[code]
    return None


def _prompt_block(feedback: types.GenerateContentResponsePromptFeedback) -> Block:
    reason = _name(feedback.block_reason) or "BLOCKED_REASON_UNSPECIFIED"
    return _block("prompt", reason, feedback.block_reason_message, feedback.safety_ratings)


def _response_block(reason: str, candidate: types.Candidate, text: str | None) -> Block:
    return _block("response", reason, candidate.finish_message, candidate.safety_ratings, text)


def _block(
    stage: Literal["prompt", "response"],
    reason: str,
    message: str | None,
    ratings: list[types.SafetyRating] | None,
    text: str | None = None,
) -> Block:
    return Block(
        stage=stage,
        reason=reason,
        info=reason_info(stage, reason),
        api_message=message,
        code_category=vertex_code_category(message),
        ratings=_ratings(ratings),
        model_text=text,
    )


def _ratings(ratings: list[types.SafetyRating] | None) -> tuple[Rating, ...]:
    """The ratings worth showing: blocked ones, or MEDIUM/HIGH probability."""
    shown = []
    for rating in ratings or []:
        probability = _name(rating.probability)
        if rating.blocked or probability in _RISKY:
            category = _name(rating.category)
            readable = HARM_CATEGORIES.get(category, category.removeprefix("HARM_CATEGORY_"))
            shown.append(Rating(readable, probability or "UNKNOWN", bool(rating.blocked)))
    return tuple(shown)


def _name(value: object) -> str:
    """An SDK enum member (known or ad hoc) or raw string as its API name."""
    if value is None:
        return ""
    name = getattr(value, "value", value)
    return str(name)
