"""The guard rails' pure rules: which limits apply, what a day is, whether a job fits, what
the member is told, what a job costs, and who may use the bot where."""

from __future__ import annotations

import datetime

import pytest

from bot.config import EXAMPLE_CONFIG, AccessSettings, QuotaSettings, RoleQuota, load_settings
from bot.jobs.access import Place, allowed, has_blocked_term
from bot.jobs.pricing import estimate_usd, settled_usd
from bot.jobs.quotas import (
    Admission,
    Limit,
    LimitHit,
    Limits,
    Override,
    Usage,
    Window,
    check,
    day_window,
    duration,
    limits_for,
    month_window,
)
from bot.jobs.records import Basis, JobRequest

SETTINGS = load_settings(EXAMPLE_CONFIG)
ARTIST, MODERATOR = 111, 222


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=datetime.UTC).timestamp()


def quotas(**values: object) -> QuotaSettings:
    return SETTINGS.quotas.model_copy(update=values)


# Which limits apply ---------------------------------------------------------------------------


def test_without_roles_or_overrides_the_defaults_apply() -> None:
    limits = limits_for(quotas(member_daily_images=10, bot_daily_usd=5.0), [], 1, [])
    assert limits.member_daily_images == 10
    assert limits.bot_daily_usd == 5.0
    assert limits.member_max_waiting == 3


def test_the_most_generous_role_applies_and_no_limit_beats_any() -> None:
    roles = {
        str(ARTIST): RoleQuota(member_daily_images=50, cooldown_s=5),
        str(MODERATOR): RoleQuota(member_daily_images=20, cooldown_s=1),
    }
    q = quotas(member_daily_images=10, cooldown_s=30, roles=roles)
    both = limits_for(q, [], 1, [ARTIST, MODERATOR])
    assert both.member_daily_images == 50
    assert both.cooldown_s == 1  # the shortest cooldown is the most generous
    assert limits_for(q, [], 1, [MODERATOR]).member_daily_images == 20
    unlimited = {**roles, "333": RoleQuota(member_daily_images=0)}
    assert limits_for(quotas(roles=unlimited), [], 1, [ARTIST, 333]).member_daily_images == 0


def test_a_stricter_role_replaces_the_default() -> None:
    q = quotas(member_daily_images=10, roles={str(ARTIST): RoleQuota(member_daily_images=2)})
    assert limits_for(q, [], 1, [ARTIST]).member_daily_images == 2


def test_admin_overrides_win_member_over_role_over_file() -> None:
    q = quotas(member_daily_images=10, roles={str(ARTIST): RoleQuota(member_daily_images=50)})
    role = Override("role", ARTIST, Limit.MEMBER_IMAGES, 5)
    assert limits_for(q, [role], 1, [ARTIST]).member_daily_images == 5
    member = Override("member", 1, Limit.MEMBER_IMAGES, 1)
    assert limits_for(q, [role, member], 1, [ARTIST]).member_daily_images == 1
    assert limits_for(q, [role, member], 2, []).member_daily_images == 10


# Days -------------------------------------------------------------------------------------------


def test_a_day_starts_at_the_reset_hour() -> None:
    assert day_window(utc(2026, 3, 5, 23, 30), 0) == Window(utc(2026, 3, 5), utc(2026, 3, 6))
    before = day_window(utc(2026, 3, 5, 5, 59), 6)
    assert before == Window(utc(2026, 3, 4, 6), utc(2026, 3, 5, 6))
    assert day_window(utc(2026, 3, 5, 6), 6).start == utc(2026, 3, 5, 6)


def test_a_month_runs_from_the_first_to_the_first() -> None:
    window = month_window(utc(2026, 2, 14, 12), 6)
    assert window == Window(utc(2026, 2, 1, 6), utc(2026, 3, 1, 6))
    assert month_window(utc(2026, 3, 1, 5), 6).start == utc(2026, 2, 1, 6)  # still Feb's day


# Whether a job fits ----------------------------------------------------------------------------

NOW = utc(2026, 3, 5, 21)
DAY = day_window(NOW, 0)


def admission(limits: Limits, *, usd: float = 0.07, images: int = 1, guild: int = 9) -> Admission:
    return Admission(1, guild, usd, images, limits, DAY, NOW)


def test_a_job_that_fits_passes() -> None:
    limits = Limits(member_daily_images=2, member_daily_usd=1, guild_daily_usd=5, bot_daily_usd=9)
    assert check(admission(limits), Usage(member_images=1, member_usd=0.9)) is None


@pytest.mark.parametrize(
    ("limits", "usage", "limit", "used"),
    [
        (Limits(member_daily_images=10), Usage(member_images=10), Limit.MEMBER_IMAGES, 10),
        (Limits(member_daily_usd=1.0), Usage(member_usd=0.95), Limit.MEMBER_USD, 0.95),
        (Limits(guild_daily_usd=5.0), Usage(guild_usd=4.99), Limit.GUILD_USD, 4.99),
        (Limits(bot_daily_usd=9.0), Usage(bot_usd=9.0), Limit.BOT_USD, 9.0),
        (Limits(member_max_waiting=3), Usage(member_waiting=3), Limit.WAITING, 3),
    ],
)
def test_each_limit_refuses_a_job_past_it(
    limits: Limits, usage: Usage, limit: Limit, used: float
) -> None:
    hit = check(admission(limits), usage)
    assert hit is not None
    assert (hit.limit, hit.used) == (limit, used)


def test_sums_of_cents_fit_exactly() -> None:
    assert check(admission(Limits(bot_daily_usd=0.3), usd=0.1), Usage(bot_usd=0.1 + 0.1)) is None


def test_the_cooldown_counts_from_the_last_accepted_job() -> None:
    limits = Limits(cooldown_s=30)
    hit = check(admission(limits), Usage(member_last_at=NOW - 10))
    assert hit is not None
    assert hit.limit is Limit.COOLDOWN
    assert hit.explain(NOW) == "Please wait 20 s before your next request (one every 30 s)."
    assert check(admission(limits), Usage(member_last_at=NOW - 30)) is None


def test_the_answer_names_the_limit_the_use_and_the_reset() -> None:
    hit = check(admission(Limits(member_daily_images=10)), Usage(member_images=10))
    assert hit is not None
    assert hit.explain(NOW) == (
        "You have used 10 of your 10 images today; more at 00:00 UTC (in 3 h)."
    )
    four = check(admission(Limits(member_daily_images=10), images=4), Usage(member_images=8))
    assert four is not None
    assert "This makes 4 images, and you have 2 of your 10 images left today" in four.explain(NOW)
    spend = LimitHit(Limit.GUILD_USD, 4.95, 5.0, 0.134, DAY.end)
    assert spend.explain(NOW - 90) == (
        "This would cost about $0.13, and this server has only $0.050 of its $5.00 left today; "
        "more at 00:00 UTC (in 3 h 2 min)."
    )
    assert "The bot has used $9.00 of its $9.00 for today" in LimitHit(
        Limit.BOT_USD, 9, 9, 0.07, DAY.end
    ).explain(NOW)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "1 s"), (59, "59 s"), (61, "2 min"), (3600, "1 h"), (3601, "1 h 1 min")],
)
def test_durations_round_up(seconds: float, text: str) -> None:
    assert duration(seconds) == text


# Costs ------------------------------------------------------------------------------------------


def test_the_estimate_covers_every_image_and_every_input_image_it_may_send() -> None:
    pro = SETTINGS.models.info("gemini-3-pro-image")
    new = JobRequest(prompt="a fox", model="gemini-3-pro-image", image_size="4K", count=2)
    expected = 2 * (pro.price_for("4K") + pro.input_price(len(b"a fox")))
    assert estimate_usd(new, SETTINGS) == pytest.approx(expected)
    edit = new.model_copy(update={"basis": Basis.CONVERSATION, "count": 1})
    history = pro.max_input_images * pro.input_image_tokens
    assert estimate_usd(edit, SETTINGS) == pytest.approx(
        pro.price_for("4K") + pro.input_price(len(b"a fox") + history)
    )


def test_a_delivered_job_costs_its_images_and_the_input_gemini_counted() -> None:
    flash = SETTINGS.models.info("gemini-3.1-flash-image")
    request = JobRequest(prompt="a fox", model="gemini-3.1-flash-image", image_size="1K")
    cost = settled_usd(flash, request, outputs=3, tokens=2_000_000)
    assert cost == pytest.approx(3 * flash.price_for("1K") + 2 * flash.input_usd_per_mtok)
    assert settled_usd(None, request, 1, 10) == 0.0


def test_a_video_costs_its_seconds() -> None:
    veo = SETTINGS.models.info("veo-3.1-fast-generate-001")
    request = JobRequest(prompt="pan left", model="veo-3.1-fast-generate-001", duration_s=4)
    assert estimate_usd(request, SETTINGS) == pytest.approx(4 * veo.usd_per_second)
    default = request.model_copy(update={"duration_s": None})
    assert estimate_usd(default, SETTINGS) == pytest.approx(
        veo.default_duration_s * veo.usd_per_second
    )
    assert settled_usd(veo, request, 1, 0) == pytest.approx(4 * veo.usd_per_second)


# Access -----------------------------------------------------------------------------------------


def access(**values: object) -> AccessSettings:
    return SETTINGS.access.model_copy(update=values)


def test_empty_access_lists_allow_everything() -> None:
    assert allowed(access(), Place(None, 5), [])


def test_a_thread_follows_its_channel_and_one_role_suffices() -> None:
    rules = access(guild_ids=[9], channel_ids=[5], role_ids=[ARTIST])
    assert allowed(rules, Place(9, 77, parent_id=5), [MODERATOR, ARTIST])
    assert not allowed(rules, Place(9, 77, parent_id=6), [ARTIST])
    assert not allowed(rules, Place(9, 5), [MODERATOR])
    assert not allowed(rules, Place(8, 5), [ARTIST])


@pytest.mark.parametrize(
    ("prompt", "blocked"),
    [
        ("A GORE scene", True),
        ("gorey details", False),  # whole words only
        ("a cat in a blood   bath", True),  # a phrase, any spacing
        ("bloodbath", False),
        ("no problem here", False),
    ],
)
def test_blocked_terms_match_whole_words_ignoring_case(prompt: str, blocked: bool) -> None:
    assert has_blocked_term(prompt, ["gore", "blood bath", "  "]) is blocked
