"""/describe's pure parts: reading the model's answer, and what a describe job costs."""

from __future__ import annotations

import pytest

from bot.config import EXAMPLE_CONFIG, load_settings
from bot.jobs.describe import OUTPUT_TOKENS_AT_MOST, describe_request, parse_prompts
from bot.jobs.pricing import estimate_usd, images_made, settled_usd

SETTINGS = load_settings(EXAMPLE_CONFIG)


@pytest.mark.parametrize(
    ("answer", "prompts"),
    [
        ('["a fox", " a  cat ", ""]', ["a fox", "a cat"]),
        ("1. a fox\n2) a cat\n\n- a dog", ["a fox", "a cat", "a dog"]),  # not JSON: lines
        ('{"prompts": ["a fox"]}', []),  # JSON, but not a list
        ("", []),
    ],
)
def test_prompts_are_read_from_a_json_list_or_lines(answer: str, prompts: list[str]) -> None:
    assert parse_prompts(answer) == prompts


def test_a_describe_job_makes_no_images_and_is_priced_by_its_tokens() -> None:
    request = describe_request(SETTINGS).model_copy(update={"input_images": ("sha",)})
    info = SETTINGS.models.info(request.model)
    assert images_made(request) == 0
    tokens = len(request.text.encode()) + info.input_image_tokens
    expected = info.input_price(tokens) + info.output_price(OUTPUT_TOKENS_AT_MOST)
    assert estimate_usd(request, SETTINGS) == pytest.approx(expected)
    assert expected < 0.02  # a cent or so: no price to confirm
    assert settled_usd(info, request, 0, 1300, 700) == pytest.approx(0.00065 + 0.0021)
