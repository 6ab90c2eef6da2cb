"""Named lists: what a list's kind means, how its values are written, and the allow/block
tier a list with an action adds before the rules."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Final, Literal, get_args

from fraudstream.rules.document import Rule

__all__ = ["KINDS", "LIST_NAME", "ListAction", "ListKind", "normalised", "tier_rules"]

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
