"""The reference library: images members (and, saved by members who manage the server, the
whole server) keep by name, to bring into prompts. Discord-free and pure.

A request names references; each becomes an input image after the member's own uploads,
with a short hint of what it is for ("keep this character's face"). A request never carries
more images than the model takes: uploads first, then references in the order named; the
ones that do not fit are left out, and the result says which.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.config import ReferenceSettings
from bot.errors import InputError
from bot.jobs.access import Place
from bot.jobs.guard import Guard
from bot.jobs.records import SERVER_WIDE, Reference, ReferenceKind, reference_key
from bot.store import ReferenceLimitError, Store
from bot.uploads import Upload, UploadReader

NAME_MAX_LENGTH = 40
CHOICE_LIMIT = 100  # characters of an autocomplete choice (Discord's limit)
MANAGE_ONLY = "Only members who can manage the server keep references for everyone."
KIND_LABELS = {
    ReferenceKind.STYLE: "a style",
    ReferenceKind.CHARACTER: "a character",
    ReferenceKind.OBJECT: "an object",
}
HINTS = {
    ReferenceKind.STYLE: "use this style (colours, technique, mood), not what it shows",
    ReferenceKind.CHARACTER: "keep this character's face and features",
    ReferenceKind.OBJECT: "include this object as it looks here",
}


class ReferenceLibrary:
    """Saving, listing and deleting references, through the guard rails like any way in."""

    def __init__(
        self, *, store: Store, settings: ReferenceSettings, guard: Guard, uploads: UploadReader
    ) -> None:
        self._store = store
        self._settings = settings
        self._guard = guard
        self._uploads = uploads

    async def save(
        self,
        user_id: int,
        role_ids: Iterable[int],
        place: Place,
        name: str,
        kind: ReferenceKind,
        upload: Upload,
        *,
        server_wide: bool = False,
        manages_server: bool = False,
    ) -> str:
        """Save the image (checked and normalised like any upload); the member's answer."""
        await self._guard.screen(user_id, role_ids, place)
        if place.guild_id is None:
            raise InputError("References belong to a server: save them in one.")
        if server_wide and not manages_server:
            raise InputError(MANAGE_ONLY)
        name = check_name(name)
        (image,) = await self._uploads.read([upload])
        owner = SERVER_WIDE if server_wide else user_id
        limit = self._settings.max_per_server if server_wide else self._settings.max_per_member
        reference = Reference(place.guild_id, owner, name, kind, image.sha256)
        try:
            replaced = await self._store.save_reference(reference, image, limit=limit)
        except ReferenceLimitError as exc:
            whose = "The server keeps" if server_wide else "You keep"
            raise InputError(
                f"{whose} {exc.limit} references already, the most allowed. Delete one with "
                "/ref delete first."
            ) from None
        verb = "Replaced" if replaced else "Saved"
        where = "for everyone in this server" if server_wide else "for you"
        return (
            f"📎 {verb} `{name}` ({KIND_LABELS[kind]}) {where}. Use it with "
            f"`/imagine refs: {name}`; several are separated by commas."
        )

    async def listed(self, guild_id: int, user_id: int) -> list[Reference]:
        return await self._store.references(guild_id, user_id)

    async def delete(
        self, user_id: int, guild_id: int, name: str, *, server_wide: bool, manages_server: bool
    ) -> str:
        if server_wide and not manages_server:
            raise InputError(MANAGE_ONLY)
        owner = SERVER_WIDE if server_wide else user_id
        if not await self._store.delete_reference(guild_id, owner, name):
            whose = "the server has" if server_wide else "you have"
            raise InputError(f"There is no reference `{name}` that {whose} (see /ref list).")
        return f"🗑️ Deleted `{name}`. Results made with it stay as they are."

    async def suggest(self, guild_id: int, user_id: int, typed: str) -> list[str]:
        return suggestions(typed, await self._store.references(guild_id, user_id))


def suggestions(typed: str, library: Sequence[Reference], limit: int = 25) -> list[str]:
    """What the refs option could become: the names given so far with the last one completed
    ("Mia, in" -> "Mia, ink"), names that start with what was typed first."""
    *given, current = typed.split(",")
    done = [" ".join(name.split()) for name in given if name.strip()]
    taken = {reference_key(name) for name in done}
    typing = reference_key(current)
    by_key: dict[str, str] = {}
    for reference in library:  # the member's own name wins over the server's
        key = reference_key(reference.name)
        if key not in by_key or not reference.server_wide:
            by_key[key] = reference.name
    fitting = [name for key, name in sorted(by_key.items()) if key not in taken and typing in key]
    fitting.sort(key=lambda name: not reference_key(name).startswith(typing))
    values = [", ".join([*done, name]) for name in fitting]
    return [value for value in values if len(value) <= CHOICE_LIMIT][:limit]


@dataclass(frozen=True)
class Chosen:
    """The references a request brings in, and the ones left out for the model's limit."""

    used: tuple[Reference, ...]
    left_out: tuple[str, ...]


def check_name(name: str) -> str:
    """The name as it is kept (spaces tidied); InputError when it cannot be one."""
    tidy = " ".join(name.split())
    if not tidy:
        raise InputError("Give the reference a name, e.g. `Mia` or `watercolour`.")
    if "," in tidy:
        raise InputError(
            "Reference names cannot contain commas: /imagine refs: separates names with them."
        )
    if len(tidy) > NAME_MAX_LENGTH:
        raise InputError(f"Reference names are at most {NAME_MAX_LENGTH} characters long.")
    return tidy


def choose(names: Sequence[str], library: Sequence[Reference], room: int) -> Chosen:
    """The references `names` name, as many as `room` images allow. A member's own reference
    wins over the server's of the same name. InputError names the ones not in the library."""
    found: dict[str, Reference] = {}
    for reference in library:
        key = reference_key(reference.name)
        if key not in found or not reference.server_wide:
            found[key] = reference
    unknown = [name for name in names if reference_key(name) not in found]
    if unknown:
        raise InputError(_unknown(unknown, library))
    wanted = list({reference_key(name): found[reference_key(name)] for name in names}.values())
    room = max(room, 0)
    return Chosen(tuple(wanted[:room]), tuple(reference.name for reference in wanted[room:]))


def hints(used: Sequence[Reference], first_image: int) -> str:
    """What each reference image is for, to follow the prompt. `first_image`: the number of
    the first reference among the request's images (they come after the uploads)."""
    lines = [
        f'Image {number} ("{reference.name}") is {KIND_LABELS[reference.kind]}: '
        f"{HINTS[reference.kind]}."
        for number, reference in enumerate(used, start=first_image)
    ]
    return "\n".join(lines)


def describe(reference: Reference) -> str:
    whose = "the server's" if reference.server_wide else "yours"
    return f"{reference.name} ({reference.kind.value}, {whose})"


def _unknown(unknown: Sequence[str], library: Sequence[Reference]) -> str:
    names = ", ".join(f"`{name}`" for name in unknown)
    if not library:
        return (
            f"There is no saved reference called {names}. Save one first with /ref save "
            "(a name and an image)."
        )
    known = ", ".join(sorted({f"`{reference.name}`" for reference in library}))
    return f"There is no saved reference called {names}. You can use {known} (see /ref list)."
