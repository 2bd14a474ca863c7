"""Vary style: the seed's variations, and restyling never piles styles up."""

from __future__ import annotations

import pytest

from bot.styles import STYLES, apply_style, style_choices


def test_the_seeds_variations_are_offered() -> None:
    labels = {label for _, label in style_choices()}
    assert {"Photorealistic", "Watercolor", "Pencil sketch", "3D render", "Pixel art"} <= labels
    assert len(STYLES) <= 25  # one Discord select menu


def test_restyling_replaces_the_previous_style() -> None:
    watercolor = apply_style("a fox", "watercolor")
    assert watercolor.startswith("a fox. Style: ")
    assert "watercolor" in watercolor
    assert apply_style(watercolor, "pixel") == apply_style("a fox", "pixel")


def test_unknown_styles_are_refused() -> None:
    with pytest.raises(KeyError):
        apply_style("a fox", "cubism")
