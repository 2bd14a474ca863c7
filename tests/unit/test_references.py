"""The reference library's rules: names, which references a request takes, suggestions."""

from __future__ import annotations

import pytest

from bot.errors import InputError
from bot.jobs.records import SERVER_WIDE, Reference, ReferenceKind
from bot.jobs.references import check_name, choose, hints, suggestions


def ref(name: str, owner: int = 1, kind: ReferenceKind = ReferenceKind.OBJECT) -> Reference:
    return Reference(guild_id=7, owner_id=owner, name=name, kind=kind, image=f"sha-{name}-{owner}")


LIBRARY = [
    ref("ink", SERVER_WIDE),
    ref("Ink"),
    ref("map"),
    ref("Mia", kind=ReferenceKind.CHARACTER),
]


def test_a_members_own_reference_wins_over_the_servers_of_the_same_name() -> None:
    chosen = choose(["INK", "mia"], LIBRARY, room=14)
    assert [r.image for r in chosen.used] == ["sha-Ink-1", "sha-Mia-1"]
    assert chosen.left_out == ()


def test_what_does_not_fit_is_left_out_in_order() -> None:
    chosen = choose(["map", "ink", "Mia", "map"], LIBRARY, room=2)
    assert [r.name for r in chosen.used] == ["map", "Ink"]
    assert chosen.left_out == ("Mia",)
    assert choose(["map"], LIBRARY, room=-1).left_out == ("map",)


def test_unknown_names_are_refused_with_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"`moon`.*You can use `Ink`, `Mia`, `ink`, `map`"):
        choose(["map", "moon"], LIBRARY, room=14)


def test_hints_number_the_images_after_the_uploads() -> None:
    text = hints([ref("Mia", kind=ReferenceKind.CHARACTER), ref("map")], first_image=3)
    assert text.splitlines() == [
        'Image 3 ("Mia") is a character: keep this character\'s face and features.',
        'Image 4 ("map") is an object: include this object as it looks here.',
    ]


@pytest.mark.parametrize(
    ("name", "problem"),
    [("  ", "Give the reference a name"), ("a, b", "cannot contain commas"), ("x" * 41, "40")],
)
def test_names_are_checked(name: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        check_name(name)


def test_names_are_tidied() -> None:
    assert check_name("  old   map ") == "old map"


def test_suggestions_complete_the_last_name_and_skip_the_ones_given() -> None:
    assert suggestions("", LIBRARY) == ["Ink", "map", "Mia"]  # the member's Ink, not ink
    assert suggestions("map, i", LIBRARY) == ["map, Ink", "map, Mia"]  # starting with i first
    assert suggestions("ink,", LIBRARY) == ["ink, map", "ink, Mia"]
    long = "x" * 97
    assert suggestions(f"{long}, m", LIBRARY) == []  # a choice holds 100 characters
