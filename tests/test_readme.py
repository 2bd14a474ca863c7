"""What the README tells operators is what the bot does: the invite permissions and their
integer, the metrics it lists, and what `check --online` prints for a retired model."""

from __future__ import annotations

import re
from pathlib import Path

import discord
from prometheus_client import generate_latest

from bot.observability.metrics import Metrics
from tests.e2e.test_online_check import RETIRED, check_online
from tests.fakes.fake_discord import BOT_PERMISSIONS, FakeDiscord
from tests.fakes.fake_gemini import FakeGemini

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
PROSE = re.sub(r"\s+", " ", README)  # line breaks inside paragraphs do not matter


def bold_in(text: str, start: str, end: str) -> list[str]:
    """The **bold** phrases between the first `start` and the first `end` after it."""
    after = text[text.index(start) :]
    return re.findall(r"\*\*([^*]+)\*\*", after[: after.index(end)])


def invite_permissions() -> discord.Permissions:
    """The permissions Quick start step 4 asks to tick, as discord.py knows them."""
    names = bold_in(PROSE, "bot permissions", "Open the generated URL")
    assert len(names) == 6, names
    flags = {}
    for name in names:
        flag = name.lower().replace(" ", "_")
        if not hasattr(discord.Permissions, flag):  # the portal says "View Channels"
            flag = flag.removesuffix("s")
        assert isinstance(getattr(discord.Permissions, flag, None), discord.flags.flag_value), name
        flags[flag] = True
    return discord.Permissions(**flags)


def test_the_permissions_integer_is_the_one_of_the_listed_permissions() -> None:
    permissions = invite_permissions()
    integers = set(re.findall(r"permissions(?: integer[^`]*`|=)(\d+)", PROSE))
    assert integers == {str(permissions.value)}
    url = discord.utils.oauth_url(
        "APPLICATION_ID", permissions=permissions, scopes=("bot", "applications.commands")
    )
    assert f"`{url}`" in README


def test_the_fake_discord_grants_the_bot_what_the_readme_asks_for() -> None:
    assert invite_permissions().value == BOT_PERMISSIONS


def test_the_troubleshooting_lists_the_same_permissions() -> None:
    listed = bold_in(PROSE, "### Missing permissions", "invite it again")
    assert listed == bold_in(PROSE, "bot permissions", "Open the generated URL")


def test_every_metric_the_bot_serves_is_in_the_readme_and_no_other() -> None:
    text = generate_latest(Metrics(":memory:").registry).decode()
    served = set(re.findall(r"^# TYPE (imagine_bot_\w+) ", text, re.MULTILINE))
    documented = set(re.findall(r"^\| `(imagine_bot_\w+)`", README, re.MULTILINE))
    assert documented == served


async def test_the_retired_model_answer_is_what_check_online_prints(
    tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini
) -> None:
    section = README[README.index("### A model was retired") :]
    start = section.index("```\n") + 4
    quoted = [line.strip() for line in section[start : section.index("\n```", start)].splitlines()]
    assert RETIRED in quoted[0]
    catalog = (
        f'[models]\ndefault = "{RETIRED}"\n[models.catalog."{RETIRED}"]\nprovider = "gemini"\n'
        'label = "Old"\nmax_input_images = 14\nimage_sizes = ["1K"]\naspect_ratios = ["1:1"]\n'
        'default_size = "1K"\nprice_usd = { "1K" = 0.134 }\n'
    )
    code, lines, out = await check_online(tmp_path, discord_fake, gemini_fake, config=catalog)
    assert code == 1, out
    for line in quoted:
        assert line in lines, (line, lines)
