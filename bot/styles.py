"""Style modifiers for "Vary style": each turns a prompt into the same subject in a new style.

Pure data and one function; no Discord.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Style:
    key: str
    label: str  # shown in the menu (Discord allows up to 100 characters)
    suffix: str  # appended to the prompt


STYLES: tuple[Style, ...] = (
    Style("photo", "Photorealistic", "photorealistic, natural light, 50mm photograph"),
    Style("watercolor", "Watercolor", "soft watercolor painting on textured paper"),
    Style("sketch", "Pencil sketch", "detailed graphite pencil sketch, cross-hatching"),
    Style("3d", "3D render", "3D render, soft studio lighting, subsurface scattering"),
    Style("pixel", "Pixel art", "16-bit pixel art, limited palette, crisp pixels"),
    Style("anime", "Anime", "anime illustration, clean line art, cel shading"),
    Style("oil", "Oil painting", "impressionist oil painting, visible brush strokes"),
    Style("comic", "Comic book", "comic book panel, bold ink outlines, halftone shading"),
    Style("lowpoly", "Low poly", "low poly 3D art, flat shaded facets"),
    Style("noir", "Film noir", "black and white film noir, dramatic shadows"),
)
_BY_KEY = {style.key: style for style in STYLES}


def apply_style(prompt: str, key: str) -> str:
    """`prompt` restyled: any earlier style suffix is replaced, so styles do not pile up."""
    style = _BY_KEY.get(key)
    if style is None:
        raise KeyError(f"unknown style {key!r}")
    base = prompt
    for known in STYLES:
        base = base.removesuffix(f". Style: {known.suffix}.")
    return f"{base}. Style: {style.suffix}."


def style_choices() -> list[tuple[str, str]]:
    """(key, label) pairs for a select menu."""
    return [(style.key, style.label) for style in STYLES]
