"""/admin: the server's controls. Discord shows it to members with Manage Server by default
(`default_member_permissions`); server admins can change who sees it in Server Settings →
Integrations. Every answer is private.

- quota: set or clear a limit for a member or a role in this server (without a member or
  role: list the limits that apply here)
- pause / resume: refuse new requests in this server, with a message members see; waiting
  requests keep their place and start after resume
- ban / unban: a member can (no longer) use the bot in this server; a ban cancels their
  waiting requests
- queue: what is waiting and running in this server
- cancel: any job of this server, by id
- reload: read the workflow files again and swap the commands, or report their problems
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_ui import messages
from bot.discord_ui.reach import SERVER_CONTEXT, SERVER_INSTALL
from bot.discord_ui.replies import Refused
from bot.jobs import access
from bot.jobs.cards import model_label
from bot.jobs.guard import DEFAULT_PAUSE
from bot.jobs.quotas import LIMIT_LABELS, MEMBER_LIMITS, Limit, Limits, Override, usd
from bot.jobs.records import Job, JobState
from bot.store import QueuePlace

if TYPE_CHECKING:
    from bot.discord_ui.app import ImagineBot

log = logging.getLogger(__name__)

_NONE = discord.AllowedMentions.none()
_JOB_ID = re.compile(r"[a-z2-9]{8}")
_LISTED = 20  # jobs listed per section of /admin queue
_WHOLE = (Limit.MEMBER_IMAGES, Limit.WAITING)  # limits that are counts


class Admin(commands.Cog):
    admin = app_commands.Group(
        name="admin",
        description="Server controls for the image bot",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
        allowed_installs=SERVER_INSTALL,
        allowed_contexts=SERVER_CONTEXT,
    )

    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Outside `[access] guild_ids` the bot does not answer here at all."""
        if not access.server_allowed(self.bot.settings.access, interaction.guild_id):
            raise Refused(access.NOT_ENABLED)
        return True

    # Limits -------------------------------------------------------------------------------

    @admin.command(name="quota", description="Set or clear a limit for a member or a role")
    @app_commands.describe(
        limit="Which limit (leave everything out to list the limits here)",
        value="The new value, 0 for no limit; leave it out to clear what was set",
        member="The member it is for",
        role="The role it is for (members with several such roles get the most generous)",
    )
    @app_commands.choices(
        limit=[app_commands.Choice(name=LIMIT_LABELS[li], value=li.value) for li in MEMBER_LIMITS]
    )
    async def quota(
        self,
        interaction: discord.Interaction,
        limit: str | None = None,
        value: app_commands.Range[float, 0, 1_000_000] | None = None,
        member: discord.Member | None = None,
        role: discord.Role | None = None,
    ) -> None:
        guild_id = _guild(interaction)
        if limit is None and member is None and role is None:
            await self._reply(interaction, await self._limits_text(guild_id))
            return
        if limit is None or (member is None) == (role is None):
            await self._reply(interaction, "Give a limit and either a member or a role (not both).")
            return
        chosen = Limit(limit)
        if value is not None and chosen in _WHOLE and value != int(value):
            await self._reply(interaction, f"{LIMIT_LABELS[chosen].capitalize()}: a whole number.")
            return
        target: Literal["member", "role"] = "member" if member is not None else "role"
        target_id = member.id if member is not None else role.id  # type: ignore[union-attr]
        who = f"<@{target_id}>" if target == "member" else f"members with <@&{target_id}>"
        override = Override(target, target_id, chosen, value or 0)
        store = self.bot.jobs.store
        if value is None:
            cleared = await store.clear_quota_override(guild_id, override)
            text = (
                f"Cleared: {who} get {LIMIT_LABELS[chosen]} from the settings again."
                if cleared
                else f"No {LIMIT_LABELS[chosen]} was set here for {who}."
            )
        else:
            now = self.bot.jobs.guard.now()
            await store.set_quota_override(guild_id, override, by_user=interaction.user.id, now=now)
            text = f"Set: {LIMIT_LABELS[chosen]} for {who} is now {_value(chosen, value)}."
        log.info(
            "admin %s: quota %s %s %s = %s", interaction.user.id, target, target_id, limit, value
        )
        await self._reply(interaction, text)

    async def _limits_text(self, guild_id: int) -> str:
        quotas = self.bot.settings.quotas
        defaults = Limits.from_settings(quotas)
        lines = ["**Limits from the settings** (0: no limit)"]
        lines += [f"{LIMIT_LABELS[li]}: {_value(li, defaults.of(li))}" for li in Limit]
        for role_id, role in quotas.roles.items():
            set_here = [
                f"{LIMIT_LABELS[li]} {_value(li, getattr(role, li.value))}"
                for li in MEMBER_LIMITS
                if getattr(role, li.value) is not None
            ]
            lines.append(f"<@&{role_id}>: {', '.join(set_here)}")
        overrides = await self.bot.jobs.store.quota_overrides(guild_id)
        lines.append("\n**Set in this server with /admin quota** (these win)")
        lines += [
            f"{'<@' if o.target == 'member' else '<@&'}{o.target_id}>: "
            f"{LIMIT_LABELS[o.limit]} {_value(o.limit, o.value)}"
            for o in overrides
        ] or ["nothing"]
        return "\n".join(lines)

    # Pause and bans -----------------------------------------------------------------------

    @admin.command(name="pause", description="Stop accepting requests in this server")
    @app_commands.describe(message="What members are told (and their waiting requests show)")
    async def pause(
        self,
        interaction: discord.Interaction,
        message: app_commands.Range[str, 1, 300] | None = None,
    ) -> None:
        guild_id = _guild(interaction)
        jobs = self.bot.jobs
        text = messages.one_line(message) if message else DEFAULT_PAUSE
        await jobs.store.pause(guild_id, text, by_user=interaction.user.id, now=jobs.guard.now())
        jobs.dispatcher.wake()  # waiting requests show the pause
        waiting = [p for p in await jobs.store.queue() if p.job.guild_id == guild_id]
        log.info("admin %s paused guild %s", interaction.user.id, guild_id)
        await self._reply(
            interaction,
            f"Paused. New requests here are refused with: {text}\n{len(waiting)} waiting "
            "request(s) keep their place and start after /admin resume; requests being made "
            "now finish.",
        )

    @admin.command(name="resume", description="Accept requests in this server again")
    async def resume(self, interaction: discord.Interaction) -> None:
        guild_id = _guild(interaction)
        resumed = await self.bot.jobs.store.resume(guild_id)
        self.bot.jobs.dispatcher.wake()
        log.info("admin %s resumed guild %s", interaction.user.id, guild_id)
        await self._reply(
            interaction,
            "Resumed: requests are accepted again, and waiting ones start."
            if resumed
            else "The bot was not paused here.",
        )

    @admin.command(name="ban", description="Stop a member from using the bot in this server")
    @app_commands.describe(member="Who", reason="Why (kept for the admins)")
    async def ban(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        reason: app_commands.Range[str, 1, 300] | None = None,
    ) -> None:
        guild_id, admin, jobs = _guild(interaction), interaction.user.id, self.bot.jobs
        now = jobs.guard.now()
        banned = await jobs.store.ban(
            guild_id, member.id, by_user=admin, reason=reason or "", now=now
        )
        active = [JobState.PENDING, JobState.QUEUED, JobState.RUNNING]
        theirs = [
            job
            for job in await jobs.store.jobs_in(active)
            if job.guild_id == guild_id and job.user_id == member.id
        ]
        cancelled = [job for job in theirs if await jobs.intake.cancel(job.id, admin)]
        log.info("admin %s banned user %s in guild %s", admin, member.id, guild_id)
        if not banned:
            await self._reply(interaction, f"<@{member.id}> was already banned here.")
            return
        await self._reply(
            interaction,
            f"<@{member.id}> can no longer use the bot in this server; "
            f"{len(cancelled)} of their request(s) were cancelled.",
        )

    @admin.command(name="unban", description="Let a banned member use the bot again")
    @app_commands.describe(member="Who")
    async def unban(self, interaction: discord.Interaction, member: discord.Member) -> None:
        unbanned = await self.bot.jobs.store.unban(_guild(interaction), member.id)
        log.info("admin %s unbanned user %s", interaction.user.id, member.id)
        await self._reply(
            interaction,
            f"<@{member.id}> can use the bot here again."
            if unbanned
            else f"<@{member.id}> was not banned here.",
        )

    # Jobs ---------------------------------------------------------------------------------

    @admin.command(name="queue", description="What is waiting and being made in this server")
    async def queue(self, interaction: discord.Interaction) -> None:
        guild_id = _guild(interaction)
        store = self.bot.jobs.store
        running = [j for j in await store.jobs_in([JobState.RUNNING]) if j.guild_id == guild_id]
        waiting = [p for p in await store.queue() if p.job.guild_id == guild_id]
        standing = await store.standing(guild_id, interaction.user.id)
        lines = [f"⏸️ Paused: {standing.paused}\n"] if standing.paused is not None else []
        lines += [*self._running_lines(running), "", *self._waiting_lines(waiting)]
        await self._reply(interaction, "\n".join(lines))

    def _running_lines(self, jobs: Sequence[Job]) -> list[str]:
        lines = [f"**Being made ({len(jobs)})**"]
        for job in jobs[:_LISTED]:
            started = f"started <t:{int(job.started_at or job.created_at)}:R>"
            lines.append(f"{self._job_line(job)} · {started}")
        return lines + _more(len(jobs))

    def _waiting_lines(self, places: Sequence[QueuePlace]) -> list[str]:
        lines = [f"**Waiting ({len(places)})**"]
        for number, place in enumerate(places[:_LISTED], start=1):
            lines.append(f"{number}. {self._job_line(place.job)}")
        return lines + _more(len(places))

    def _job_line(self, job: Job) -> str:
        label = model_label(self.bot.settings, job.request.model)
        return f"`{job.id}` <@{job.user_id}> {job.kind} · {label} · about {usd(job.reserved_usd)}"

    @admin.command(name="cancel", description="Cancel any request of this server")
    @app_commands.describe(job="The job id (on the request's message, or in /admin queue)")
    async def cancel(
        self, interaction: discord.Interaction, job: app_commands.Range[str, 8, 8]
    ) -> None:
        job_id = job.strip().lower()
        found = await self.bot.jobs.store.get_job(job_id) if _JOB_ID.fullmatch(job_id) else None
        if found is None or found.guild_id != interaction.guild_id:
            await self._reply(interaction, f"There is no job `{job_id}` in this server.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        cancelled = await self.bot.jobs.intake.cancel(found.id, interaction.user.id)
        log.info("admin %s cancelled job %s: %s", interaction.user.id, job_id, cancelled)
        await self._reply(
            interaction,
            f"Cancelled `{job_id}`; its message says so."
            if cancelled
            else f"`{job_id}` had already finished ({found.state}).",
        )

    # Workflows ----------------------------------------------------------------------------

    @admin.command(name="reload", description="Read the workflow files again (no restart)")
    async def reload(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await self.bot.reload_workflows()
        log.info("admin %s reloaded the workflows", interaction.user.id)
        if report.problems:
            problems = "\n".join(f"• {problem}" for problem in report.problems)
            text = (
                "The workflow files have problems, so nothing changed (the commands work as "
                f"before):\n{problems}"
            )
        else:
            commands_ = ", ".join(f"/{w.command}" for w in self.bot.workflows.workflows)
            text = f"Reloaded: {commands_}."
            if report.warnings:
                text += "\n" + "\n".join(f"⚠️ {warning}" for warning in report.warnings)
        await self._reply(interaction, text)

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        embed = discord.Embed(description=messages.clip(text, messages.EMBED_DESCRIPTION_LIMIT))
        if interaction.response.is_done():
            await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=_NONE)
        else:
            await interaction.response.send_message(
                embed=embed, ephemeral=True, allowed_mentions=_NONE
            )


def _guild(interaction: discord.Interaction) -> int:
    assert interaction.guild_id is not None  # the group is guild_only
    return interaction.guild_id


def _value(limit: Limit, value: float) -> str:
    if not value:
        return "no limit"
    if limit in (Limit.MEMBER_USD, Limit.GUILD_USD, Limit.BOT_USD):
        return usd(value)
    if limit is Limit.COOLDOWN:
        return f"{value:g} s"
    return f"{value:g}"


def _more(count: int) -> list[str]:
    return [f"… and {count - _LISTED} more"] if count > _LISTED else []


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Admin(bot))
