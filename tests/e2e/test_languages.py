"""Languages: the commands are registered with their French names and descriptions (the
worked example), and members are answered in their Discord client's language where a
translation exists, in English otherwise."""

from __future__ import annotations

from tests.e2e.conftest import Harness
from tests.e2e.guard_support import Json, private_text, restart
from tests.e2e.helpers import custom_id
from tests.fakes.fake_discord import FakeDiscord
from tests.support import settle


def registered(discord: FakeDiscord, name: str) -> Json:
    (command,) = [c for c in discord.commands[discord.guild_id] if c["name"] == name]
    return command


def option(command: Json, name: str) -> Json:
    found: list[Json] = [o for o in command["options"] if o["name"] == name]
    assert len(found) == 1
    return found[0]


async def test_commands_are_registered_in_french_too(harness: Harness) -> None:
    imagine = registered(harness.discord, "imagine")
    assert imagine["name_localizations"] == {"fr": "imaginer"}
    assert imagine["description_localizations"] == {
        "fr": "Créer une image à partir d'une description, ou modifier les photos jointes"
    }
    prompt = option(imagine, "prompt")
    assert prompt["name_localizations"] == {"fr": "consigne"}
    choices = {
        c["value"]: c.get("name_localizations") for c in option(imagine, "aspect_ratio")["choices"]
    }
    assert choices["16:9"] == {"fr": "Écran large (16:9)"}
    # Without a translation a text has no localizations, and Discord shows it in English.
    assert option(imagine, "image").get("name_localizations") in (None, {})
    assert registered(harness.discord, "usage")["name_localizations"] == {"fr": "utilisation"}


async def test_a_member_is_answered_in_their_language(harness: Harness) -> None:
    elsewhere = harness.discord.add_text_channel("art")
    await restart(harness, access={"channel_ids": [int(elsewhere)]})
    answers = {}
    for locale in ("fr", "en-US", "de"):  # no German catalog: English
        refused = await harness.discord.run_command(
            "imagine", {"prompt": "a paper boat"}, locale=locale
        )
        await harness.discord.wait_for(lambda: private_text(refused))  # noqa: B023
        answers[locale] = private_text(refused)
    assert answers["fr"].startswith("Le bot n'est pas activé ici.")
    assert answers["en-US"] == answers["de"]
    assert answers["de"].startswith("The bot is not enabled here.")
    assert harness.gemini.requests == []


async def test_the_refine_form_speaks_the_members_language(harness: Harness) -> None:
    made = await harness.imagine("a paper boat")
    shown = made.original
    assert shown is not None
    opened = await harness.discord.click(shown["id"], custom_id(shown, "Refine"), locale="fr")
    await opened.wait_response()
    assert opened.modal is not None
    assert opened.modal["title"] == "Retoucher cette image"
    (row,) = opened.modal["components"]
    field = row.get("component") or row["components"][0]
    assert (field["label"], field["placeholder"]) == (
        "Que faut-il changer ?",
        "par ex. de nuit, ajoute une écharpe rouge",
    )
    submitted = await harness.discord.submit_modal(opened, {"text": "make the boat red"})
    await submitted.wait_response()
    await settle()
    assert "make the boat red" in str(harness.gemini.requests[-1].contents)
