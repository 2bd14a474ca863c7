"""`python -m bot check --online` as an operator runs it, against the fakes: one line per check,
non-zero exit on any problem, and no secret in the output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_startup import clean_env, fakes_config, run_bot
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini, Reply, quota_reply

DEFAULT = "gemini-3.1-flash-image"
DESCRIBE = "gemini-3-flash"
RETIRED = "gemini-3-pro-image-preview"
RATIOS = ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"]


async def check_online(
    tmp_path: Path,
    discord: FakeDiscord,
    gemini: FakeGemini,
    *args: str,
    token: str | None = None,
    key: str | None = None,
    config: str = "",
    replies: tuple[Reply, ...] = (),
    available: tuple[str, ...] = (),
    **env: str,
) -> tuple[int, list[str], str]:
    """Run the check against the fakes; exit code, the online lines, all the output.
    `config` is appended to a config.toml whose last table is [gemini]."""
    fakes_config(tmp_path, discord, gemini)
    with (tmp_path / "config.toml").open("a") as fh:
        fh.write(config)
    gemini.reset()
    gemini.models.update(available)  # models the fake serves besides its default ones
    gemini.enqueue(*replies)
    secrets = {"DISCORD_TOKEN": token or discord.token, "GEMINI_API_KEY": key or gemini.api_key}
    code, out, err = await run_bot(
        "check", "--online", *args, env=clean_env(**secrets, **env), cwd=tmp_path
    )
    assert "Traceback" not in err
    for secret in secrets.values():
        assert secret not in out + err
    online = out.split("Online checks:\n", 1)[1].splitlines()
    return code, [line.strip() for line in online], out + err


async def test_all_good(tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini) -> None:
    code, lines, _ = await check_online(tmp_path, discord_fake, gemini_fake)

    assert code == 0
    assert lines[:5] == [
        f"✓ Discord token: accepted; the bot is {discord_fake.bot_user['username']}",
        "✓ Message Content intent: on",
        "✓ Gemini key: accepted",
        f"✓ Model {DEFAULT}: available on v1beta, makes images",
        f"✓ Model {DESCRIBE}: available on v1beta (/describe)",
    ]
    assert lines[5].startswith("– Quota: not checked")
    assert "--spend" in lines[5]
    assert lines[-1] == "OK"
    paths = [r.path for r in gemini_fake.requests]
    assert paths == [f"/v1beta/models/{DEFAULT}", f"/v1beta/models/{DESCRIBE}"]


async def test_a_missing_model_lists_the_image_models_instead(
    tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini
) -> None:
    retired = (
        f'[models]\ndefault = "{RETIRED}"\n[models.catalog."{RETIRED}"]\nprovider = "gemini"\n'
        'label = "Old"\nmax_input_images = 14\nimage_sizes = ["1K"]\n'
        f"aspect_ratios = {json.dumps(RATIOS)}\n"
        'default_size = "1K"\nprice_usd = { "1K" = 0.134 }\n'
    )

    code, lines, out = await check_online(tmp_path, discord_fake, gemini_fake, config=retired)

    assert code == 1, out
    assert f"✗ Model {RETIRED}: not found on API version v1beta" in "\n".join(lines)
    assert "– Image models this key can use: gemini-3-pro-image, gemini-3.1-flash-image" in lines
    assert lines[-1] == "1 problem(s) found.", out


async def test_an_invalid_gemini_key(
    tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini
) -> None:
    code, lines, _ = await check_online(tmp_path, discord_fake, gemini_fake, key="key-SECRET-9")

    assert code == 1
    assert lines[2].startswith("✗ Gemini key: Gemini refused the API key")
    assert "aistudio.google.com/apikey" in lines[2]


async def test_an_invalid_discord_token(
    tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini
) -> None:
    code, lines, _ = await check_online(tmp_path, discord_fake, gemini_fake, token="tok-SECRET-8")

    assert code == 1
    assert lines[0].startswith("✗ Discord token: Discord refused DISCORD_TOKEN")
    assert not any("Message Content" in line for line in lines)
    assert "✓ Gemini key: accepted" in lines  # the other checks still run


async def test_the_message_content_intent_off(tmp_path: Path, gemini_fake: FakeGemini) -> None:
    no_intent = FakeDiscord(message_content_intent=False)
    await no_intent.start()
    try:
        code, lines, _ = await check_online(tmp_path, no_intent, gemini_fake)
    finally:
        await no_intent.stop()

    assert code == 1
    assert lines[1].startswith("✗ Message Content intent: off")
    assert "Message Content Intent" in lines[1]


@pytest.mark.parametrize(
    ("answer", "expected", "code"),
    [
        (None, f"✓ Quota: Gemini made a test image with {DEFAULT}", 0),
        ("no_billing", "✗ Quota: none: the key's project may not use image models", 1),
        ("per_day", "✗ Quota: today's quota is used up", 1),
        ("per_minute", "✓ Quota: there is quota, but the per-minute limit is reached", 0),
    ],
)
async def test_spend_makes_one_cheap_image(
    tmp_path: Path,
    discord_fake: FakeDiscord,
    gemini_fake: FakeGemini,
    answer: str | None,
    expected: str,
    code: int,
) -> None:
    replies = () if answer is None else (quota_reply(answer),)

    exit_code, lines, out = await check_online(
        tmp_path, discord_fake, gemini_fake, "--spend", replies=replies
    )

    assert exit_code == code, out
    assert any(line.startswith(expected) for line in lines), lines
    (image,) = [r for r in gemini_fake.requests if r.method == "generateContent"]
    assert image.image_config == {"imageSize": "512"}  # the cheapest size of the default model
    assert gemini_fake.violations == []


async def test_on_vertex_ai_every_model_in_use_is_asked_for(
    tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini
) -> None:
    vertex_tools = (
        '\n[video]\nmodel = "veo-3.1-fast-generate-001"\n'
        '[upscale]\nfaithful_model = "imagen-4.0-upscale-preview"\n'
    )
    code, lines, out = await check_online(
        tmp_path, discord_fake, gemini_fake, config=vertex_tools, GOOGLE_GENAI_USE_VERTEXAI="true"
    )

    assert code == 0, out
    assert lines[2:] == [
        f"✓ Model {DEFAULT}: available on Vertex AI, makes images",
        "✓ Model gemini-3-flash: available on Vertex AI, reads images (/describe)",
        "✓ Model veo-3.1-fast-generate-001: available on Vertex AI, makes videos",
        "✓ Model imagen-4.0-upscale-preview: available on Vertex AI, upscales images",
        "OK",
    ]
    assert {r.path for r in gemini_fake.requests} == {
        f"/v1beta1/publishers/google/models/{model}"
        for model in (
            DEFAULT,
            "gemini-3-flash",
            "veo-3.1-fast-generate-001",
            "imagen-4.0-upscale-preview",
        )
    }

    unknown = (
        '\n[video]\nmodel = "veo-0.9-gone"\n[models.catalog."veo-0.9-gone"]\n'
        'provider = "veo"\nlabel = "Gone"\nmax_input_images = 1\naspect_ratios = ["16:9"]\n'
        'image_sizes = ["720p"]\ndefault_size = "720p"\ndurations_s = [8]\n'
        "default_duration_s = 8\nusd_per_second = 0.5\n"
    )
    code, lines, _ = await check_online(
        tmp_path, discord_fake, gemini_fake, config=unknown, GOOGLE_GENAI_USE_VERTEXAI="true"
    )
    assert code == 1
    assert lines[4].startswith("✗ Model veo-0.9-gone: not found on Vertex AI")


async def test_vertex_only_settings_are_a_problem_with_an_api_key(
    tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini
) -> None:
    code, _, out = await check_online(
        tmp_path, discord_fake, gemini_fake, config='\n[video]\nmodel = "veo-3.1-generate-001"\n'
    )
    assert code == 1
    assert "problem: These need Vertex AI, but the bot uses a Gemini API key" in out
    assert "[video] model (veo-3.1-generate-001: Animate)" in out


async def test_thinking_levels_of_a_model_that_does_not_think_are_a_problem(
    tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini
) -> None:
    config = (
        '\n[models]\ndefault = "gemini-2.5-flash-image"\n'
        '[models.catalog."gemini-2.5-flash-image"]\nprovider = "gemini"\nlabel = "Old"\n'
        'max_input_images = 3\nimage_sizes = ["1K"]\ndefault_size = "1K"\n'
        f"aspect_ratios = {json.dumps(RATIOS)}\n"
        'price_usd = { "1K" = 0.039 }\nthinking_levels = ["HIGH"]\n'
    )
    code, lines, out = await check_online(
        tmp_path,
        discord_fake,
        gemini_fake,
        config=config,
        available=("gemini-2.5-flash-image",),  # models.get says "thinking": false
    )
    assert code == 1, out
    assert "✗ Model gemini-2.5-flash-image: the catalog lists thinking_levels" in "\n".join(lines)


async def test_a_configured_v1_is_a_problem(
    tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini
) -> None:
    code, lines, _ = await check_online(
        tmp_path, discord_fake, gemini_fake, config='api_version = "v1"\n'
    )

    assert code == 1
    assert lines[2].startswith("✗ Gemini API version: v1 refuses the image settings")
