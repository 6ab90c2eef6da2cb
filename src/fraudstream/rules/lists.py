"""Named lists: what a list's kind means, how its values are written, and the allow/block
tier a list with an action adds before the rules."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Final, Literal, get_args

from fraudstream.rules.document import Rule

__all__ = ["KINDS", "LIST_NAME", "ListAction", "ListKind", "changes", "entries", "normalised", "tier_rules"]

ListKind = Literal["customer", "device", "merchant", "terminal", "ip", "country", "prefix"]
ListAction = Literal["allow", "block"]

#: The transaction field a list of each kind is matched against in its tier (a prefix
#: list: the start of the customer id, as a card's BIN is the start of its number).
KINDS: Final[dict[str, str]] = {
    "customer": "customer_id",
    "device": "device_id",
    "merchant": "merchant_id",
    "terminal": "terminal_id",
    "ip": "ip",
    "country": "country",
    "prefix": "customer_id",
}
assert set(KINDS) == set(get_args(ListKind))

LIST_NAME: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$"
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


def normalised(kind: str, value: str) -> str:
    """A value as the list keeps it (countries upper case, addresses in their short form);
    raises ValueError for a value the kind cannot hold (the message never repeats it)."""
    value = value.strip()
    if kind == "country":
        if not re.fullmatch(r"[A-Za-z]{2}", value):
            raise ValueError("a country is a two-letter ISO 3166 code")
        return value.upper()
    if kind == "ip":
        try:
            return ipaddress.ip_address(value).compressed
        except ValueError:
            raise ValueError("not an IP address") from None
    if not _PRINTABLE.fullmatch(value):
        raise ValueError("a value is 1 to 128 printable characters")
    return value


def entries(kind: str, values: Iterable[str]) -> list[str]:
    """Values as the list keeps them; raises ValueError naming the first bad one by position."""
    kept = []
    for i, value in enumerate(values, 1):
        try:
            kept.append(normalised(kind, value))
        except ValueError as exc:
            raise ValueError(f"value {i}: {exc}") from None
    return kept


def changes(name: str, kind: str, action: str | None, given_kind: str | None, given_action: str | None) -> str | None:
    """Why adding to an existing list with this kind or action would change what it is (None: it would not).

    A list's kind and action are changed on purpose (`lists set`), never by adding values:
    one mistaken add must not turn a block list into an allow list.
    """
    if given_kind is not None and given_kind != kind:
        return f"{name} holds {kind} values, not {given_kind} ones"
    if given_action is not None and given_action != action:
        what = f"a {action} list" if action else "used by rules only"
        return f"{name} is {what}; change that with `fraudstream lists set` (or PATCH /v1/lists/{name})"
    return None


def tier_rules(lists: Iterable[tuple[str, str, str | None]]) -> list[Rule]:
    """The rule each (name, kind, action) list with an action stands for."""
    return [
        Rule(
            id=f"list.{name}",
            description=f"{KINDS[kind]} is on the {action} list {name}",
            when=f"{KINDS[kind]} in list('{name}')",
            action=action,
        )
        for name, kind, action in lists
        if action in ("allow", "block")
    ]
