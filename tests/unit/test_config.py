"""Settings: the example file is the defaults, config.toml overrides, errors name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import EXAMPLE_CONFIG, load_settings
from bot.errors import ConfigError
from bot.jobs.shards import Shards


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_without_a_config_file_the_example_defaults_apply(in_tmp: Path) -> None:
    settings = load_settings()
    assert settings.models.default == "gemini-3.1-flash-image"
    assert settings.discord.api_base_url == "https://discord.com/api/v10"
    assert settings.discord.gateway_url == "wss://gateway.discord.gg/"
    assert settings.storage.path == Path("data/bot.sqlite3")
    assert settings == load_settings(EXAMPLE_CONFIG)


def test_config_toml_in_the_working_directory_overrides_single_keys(in_tmp: Path) -> None:
    write(in_tmp / "config.toml", "[gemini]\ntimeout_s = 30\n[discord]\nguild_ids = [123]\n")
    settings = load_settings()
    assert settings.gemini.timeout_s == 30
    assert settings.discord.guild_ids == [123]
    assert settings.gemini.retry_attempts == 3  # untouched keys keep the example's value


def test_a_model_can_be_added_to_the_catalog(in_tmp: Path) -> None:
    path = write(
        in_tmp / "custom.toml",
        '[models]\ndefault = "my-model"\n[models.catalog."my-model"]\nprovider = "gemini"\n'
        'label = "Mine"\nmax_input_images = 3\naspect_ratios = ["1:1"]\nimage_sizes = []\n'
        'default_size = ""\nprice_usd = { default = 0.01 }\n',
    )
    settings = load_settings(path)
    assert settings.models.info("my-model").price_for(None) == 0.01
    assert "gemini-3.1-flash-image" in settings.models.catalog


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[gemini]\ntimeout_s = 'soon'\n", "[gemini] timeout_s"),
        ("[gemini]\ntimeout_s = -1\n", "greater than 0"),
        ("[gemini]\ntimeout = 3\n", "is not a known setting"),
        ("[conversations]\nwho_can_refine = 'everyone'\n", "'owner' or 'anyone'"),
        (
            "[models]\ndefault = 'gemini-1.0-retired'\n",
            "is not a gemini image model of the catalog",
        ),
        (
            "[models]\ndefault = 'veo-3.1-generate-001'\n",
            "is not a gemini image model of the catalog",
        ),
        ("[video]\nmodel = 'gemini-3-pro-image'\n", "'gemini-3-pro-image' is not a veo"),
        ("[upscale]\nfaithful_model = 'veo-3.1-generate-001'\n", "is not an upscale model"),
        (
            "[upscale]\nfaithful_model = 'imagen-4.0-upscale-preview'\nfactor = 'x8'\n",
            "[upscale] factor 'x8' is not one of the factors",
        ),
        (
            '[models.catalog."veo-3.1-generate-001"]\ndefault_duration_s = 5\n',
            "a veo model needs durations_s",
        ),
        (
            '[models.catalog."gemini-3-pro-image"]\nthinking_level = "HIGH"\n',
            "thinking_level 'HIGH' is not one of thinking_levels",
        ),
        (
            '[models.catalog."veo-3.1-generate-001"]\ngrounding = true\n',
            "apply to gemini models only",
        ),
        (
            '[models.retired."imagen-4.0-generate-001"]\nreplacement = "gemini-3-pro-image"\n',
            "which that model does not accept",
        ),
        ("[models]\ndefault = 'gemini-3-flash'\n", "not a gemini image model"),
        ("[models]\ndescribe = 'gemini-3-pro-image'\n", 'with output = "text"'),
        ("[gemini\n", "is not valid TOML"),
        ("[storage]\nurl = 'mysql://db/bot'\n", "must be a postgresql:// URL"),
        ("[quotas]\nmember_daily_images = -1\n", "[quotas] member_daily_images"),
        ("[quotas]\nreset_hour_utc = 24\n", "[quotas] reset_hour_utc"),
        ('[quotas.roles."moderators"]\nmember_daily_images = 5\n', "'moderators' is not one"),
        ('[quotas.roles."1"]\nbot_daily_usd = 5\n', "is not a known setting"),
        ("[access]\nblocked_terms = ['']\n", "[access.blocked_terms] 0"),
        ("[discord]\nshard_ids = [1]\n", "shard_ids needs shard_count"),
        ("[discord]\nshard_count = 2\nshard_ids = [0, 2]\n", "are numbered 0 to 1"),
        ("[discord]\nshard_count = 2\nshard_ids = [1, 1]\n", "names a shard twice"),
        ("[jobs]\ntakeover_after_s = 1\n", "[jobs] takeover_after_s"),
    ],
)
def test_invalid_settings_name_the_file_and_the_setting(
    in_tmp: Path, text: str, expected: str
) -> None:
    path = write(in_tmp / "bad.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = caught.value.user_message
    assert str(path) in message
    assert expected in message
    assert "Traceback" not in message


@pytest.mark.parametrize("key", ["token", "discord_token", "api_key", "GEMINI_API_KEY"])
def test_secrets_in_the_file_are_refused(in_tmp: Path, key: str) -> None:
    path = write(in_tmp / "config.toml", f'[discord]\n{key} = "abc"\n')
    with pytest.raises(ConfigError, match="environment variable"):
        load_settings(path)


def test_shards_default_to_all_of_them_and_can_be_split(in_tmp: Path) -> None:
    assert load_settings().discord.shards() == Shards()  # discord.py asks Discord how many
    path = write(in_tmp / "config.toml", "[discord]\nshard_count = 4\nshard_ids = [3, 1]\n")
    assert load_settings(path).discord.shards() == Shards(4, frozenset({1, 3}))
    path = write(in_tmp / "config.toml", "[discord]\nshard_count = 2\n")
    assert load_settings(path).discord.shards() == Shards(2, frozenset({0, 1}))


def test_a_postgresql_url_without_a_password_is_accepted(in_tmp: Path) -> None:
    path = write(in_tmp / "config.toml", '[storage]\nurl = "postgresql://bot@db:5432/bot"\n')
    assert load_settings(path).storage.url == "postgresql://bot@db:5432/bot"


@pytest.mark.parametrize(
    "url", ["postgresql://bot:hunter2@db/bot", "postgres://db/bot?user=bot&password=hunter2"]
)
def test_a_database_password_in_the_file_is_refused_without_repeating_it(
    in_tmp: Path, url: str
) -> None:
    path = write(in_tmp / "config.toml", f'[storage]\nurl = "{url}"\n')
    with pytest.raises(ConfigError, match="PGPASSWORD") as caught:
        load_settings(path)
    assert "hunter2" not in caught.value.user_message


def test_token_counts_are_not_mistaken_for_secrets(in_tmp: Path) -> None:
    path = write(
        in_tmp / "config.toml",
        '[models.catalog."gemini-3-pro-image"]\ninput_image_tokens = 600\n',
    )
    assert load_settings(path).models.info("gemini-3-pro-image").input_image_tokens == 600


def test_role_quotas_are_read_by_role_id(in_tmp: Path) -> None:
    path = write(
        in_tmp / "config.toml",
        '[quotas]\nmember_daily_images = 10\n[quotas.roles."123456789012345678"]\n'
        "member_daily_images = 50\n",
    )
    quotas = load_settings(path).quotas
    assert quotas.member_daily_images == 10
    role = quotas.roles["123456789012345678"]
    assert role.member_daily_images == 50
    assert role.member_daily_usd is None  # unset: the default applies


def test_a_missing_config_path_is_reported(in_tmp: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(in_tmp / "nope.toml")


def test_price_follows_the_image_size() -> None:
    info = load_settings(EXAMPLE_CONFIG).models.info("gemini-3.1-flash-image")
    assert info.price_for("4K") > info.price_for("1K") == info.price_for(None)
