"""The block report for every reason the API can give, including ones not invented yet."""

from __future__ import annotations

import pytest
from google.genai import types

from bot.safety import (
    PROMPT_REASONS,
    REFUSAL,
    RESPONSE_REASONS,
    UNKNOWN_REASON,
    VERTEX_ERROR_CODES,
    assess_response,
    vertex_code_category,
)

PNG = types.Part.from_bytes(data=b"\x89PNG...", mime_type="image/png")


def response(
    *,
    parts: list[types.Part] | None = None,
    finish: str | None = "STOP",
    message: str | None = None,
    ratings: list[types.SafetyRating] | None = None,
) -> types.GenerateContentResponse:
    candidate = types.Candidate(
        content=types.Content(role="model", parts=parts or []),
        finish_reason=finish,
        finish_message=message,
        safety_ratings=ratings,
    )
    return types.GenerateContentResponse(candidates=[candidate])


PROMPT_BLOCK_REASONS = [
    "SAFETY",
    "OTHER",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "IMAGE_SAFETY",
    "MODEL_ARMOR",
    "JAILBREAK",
]


@pytest.mark.parametrize("reason", PROMPT_BLOCK_REASONS)
def test_every_prompt_block_reason_has_its_own_explanation(reason: str) -> None:
    resp = types.GenerateContentResponse(
        prompt_feedback=types.GenerateContentResponsePromptFeedback(
            block_reason=reason,
            block_reason_message="Blocked by policy",
            safety_ratings=[
                types.SafetyRating(
                    category="HARM_CATEGORY_DANGEROUS_CONTENT",
                    probability="HIGH",
                    blocked=True,
                ),
                types.SafetyRating(
                    category="HARM_CATEGORY_HARASSMENT",
                    probability="NEGLIGIBLE",
                ),
            ],
        )
    )
    block = assess_response(resp)
    assert block is not None
    assert (block.stage, block.reason) == ("prompt", reason)
    assert block.info is PROMPT_REASONS[reason]
    assert block.api_message == "Blocked by policy"
    assert [(r.category, r.probability, r.blocked) for r in block.ratings] == [
        ("Dangerous content", "HIGH", True)
    ]


RESPONSE_BLOCK_REASONS = [
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_OTHER",
    "IMAGE_RECITATION",
    "NO_IMAGE",
    "SAFETY",
    "PROHIBITED_CONTENT",
    "RECITATION",
    "BLOCKLIST",
    "SPII",
    "OTHER",
    "MAX_TOKENS",
    "LANGUAGE",
    "MALFORMED_RESPONSE",
    "MISSING_THOUGHT_SIGNATURE",
    "MODEL_ARMOR",
]


@pytest.mark.parametrize("reason", RESPONSE_BLOCK_REASONS)
def test_every_finish_reason_has_its_own_explanation(reason: str) -> None:
    block = assess_response(response(finish=reason, parts=[types.Part(text="Sorry.")]))
    assert block is not None
    assert (block.stage, block.reason) == ("response", reason)
    assert block.info is RESPONSE_REASONS[reason]
    assert block.model_text == "Sorry."
    assert block.info.category
    assert block.info.advice


def test_the_two_tables_cover_the_reasons_the_issue_lists() -> None:
    assert set(PROMPT_BLOCK_REASONS) <= set(PROMPT_REASONS)
    assert set(RESPONSE_BLOCK_REASONS) <= set(RESPONSE_REASONS)


@pytest.mark.filterwarnings("ignore:.*is not a valid FinishReason")
def test_an_unknown_reason_is_reported_as_given() -> None:
    block = assess_response(response(finish="SOMETHING_NEW_IN_2027"))
    assert block is not None
    assert block.reason == "SOMETHING_NEW_IN_2027"
    assert block.info is UNKNOWN_REASON
    assert block.info.retry_may_help


def test_a_refusal_shows_the_models_text() -> None:
    block = assess_response(response(parts=[types.Part(text="I can't draw that person.")]))
    assert block is not None
    assert block.info is REFUSAL
    assert block.model_text == "I can't draw that person."


def test_an_image_is_not_a_block_even_with_an_odd_finish_reason() -> None:
    assert assess_response(response(parts=[PNG])) is None
    assert assess_response(response(parts=[PNG], finish="MAX_TOKENS")) is None


def test_thought_images_do_not_count_as_a_result() -> None:
    thought = types.Part(inline_data=types.Blob(data=b"x", mime_type="image/png"), thought=True)
    block = assess_response(response(parts=[thought], finish="IMAGE_SAFETY"))
    assert block is not None
    assert block.reason == "IMAGE_SAFETY"


@pytest.mark.parametrize(("code", "category"), sorted(VERTEX_ERROR_CODES.items()))
def test_vertex_finish_message_codes_map_to_categories(code: str, category: str) -> None:
    message = f"Unable to show the generated image. Support codes: {code}"
    block = assess_response(response(finish="IMAGE_SAFETY", message=message))
    assert block is not None
    assert block.code_category == category
    assert block.api_message == message


def test_unknown_codes_give_no_category() -> None:
    assert vertex_code_category("Support codes: 12345678") is None
    assert vertex_code_category(None) is None
