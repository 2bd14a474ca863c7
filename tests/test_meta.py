"""The bot as a whole holds together: every cog loads, and nothing clashes (in the style of
python-discord/bot's meta-tests)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from bot.config import EXAMPLE_CONFIG, load_settings
from bot.credentials import Credentials, GeminiAuth
from bot.discord_ui.app import EXTENSIONS, ImagineBot
from bot.discord_ui.components import (
    CUSTOM_ID_PREFIXES,
    DYNAMIC_ITEMS,
    EDIT_MENU_MODAL_ID,
    MODAL_ID,
    NUMBERED,
    JobButton,
    NumberedButton,
    StyleSelect,
    job_modal_id,
)
from bot.jobs.display import Action
from bot.workflows.loader import load_workflows, workflows_directory

REPO = Path(__file__).resolve().parents[1]


async def test_every_cog_loads_and_every_command_name_is_unique() -> None:
    settings = load_settings(EXAMPLE_CONFIG)
    credentials = Credentials("token", GeminiAuth(api_key="key"))
    workflows = load_workflows(workflows_directory(settings), settings)
    bot = ImagineBot(settings, credentials, workflows)
    try:
        for extension in EXTENSIONS:
            await bot.load_extension(extension)  # raises on a clash or a broken setup()
        assert set(bot.extensions) == set(EXTENSIONS)
        names = [(c.name, type(c).__name__) for c in bot.tree.walk_commands()]
        assert len(names) == len(set(names))
        assert {"imagine", "edit", "logo"} <= {name for name, _ in names}
    finally:
        await bot.genai.aio.aclose()


def test_every_cog_module_is_loaded() -> None:
    modules = {f"cogs.{p.stem}" for p in (REPO / "cogs").glob("*.py") if p.stem != "__init__"}
    assert modules == set(EXTENSIONS)


def test_no_custom_id_prefix_is_the_start_of_another() -> None:
    for first, second in itertools.permutations(CUSTOM_ID_PREFIXES, 2):
        assert not second.startswith(first), (first, second)


SAMPLES = [
    JobButton(Action.RETRY, "abcdefgh").item.custom_id,
    StyleSelect("abcdefgh", [("photo", "Photo")]).item.custom_id,
    *(NumberedButton(action, 2, "abcdefgh").item.custom_id for action in NUMBERED),
    job_modal_id(Action.REFINE, "abcdefgh"),
    "editmsg:123:456",
]


@pytest.mark.parametrize("custom_id", SAMPLES)
def test_each_custom_id_is_recognised_by_exactly_one_handler(custom_id: str) -> None:
    patterns = [item.__discord_ui_compiled_template__ for item in DYNAMIC_ITEMS]
    patterns += [MODAL_ID, EDIT_MENU_MODAL_ID]
    matching = [p.pattern for p in patterns if re.fullmatch(p, custom_id)]
    assert len(matching) == 1, (custom_id, matching)
    assert custom_id.startswith(CUSTOM_ID_PREFIXES)
    assert len(custom_id) <= 100  # Discord's limit
