"""Payment references as payers type them, reduced to the form accounts are keyed by; the
tokens of a free-text reference; the landlord's check-digit scheme (docs/domain.md §2)."""
from __future__ import annotations

import re
from dataclasses import dataclass

_STRIP = re.compile(r"[\s\-]+")
_TOKEN = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*")
_DIGITS = re.compile(r"\d+")


def normalise_reference(reference: str | None) -> str:
    """Upper-case, without spaces (of any kind) or hyphens: ' ab-12 34 ' → 'AB1234'."""
    if not reference:
        return ""
    if reference.isalnum():  # most references: nothing to strip (spaces and hyphens are not alphanumeric)
        return reference.upper()
    return _STRIP.sub("", reference).upper()


def tokens(reference: str | None) -> list[str]:
    """What might be a reference inside free text, each once, in order of appearance:
    'PAYMENT REF:1000-0001 flat 2' → ['PAYMENT', 'REF', '10000001', 'FLAT', '2'] plus every run of
    digits inside a token ('RENT10000001' → '10000001') and in the text with spaces and hyphens
    removed ('1000 0001' → '10000001')."""
    if not reference:
        return []
    upper = reference.upper()
    found: dict[str, None] = {}
    for m in _TOKEN.finditer(upper):
        token = m.group().replace("-", "")
        found[token] = None
        for d in _DIGITS.findall(token):
            found[d] = None
    for d in _DIGITS.findall(normalise_reference(reference)):
        found[d] = None
    return list(found)


class CheckSchemeError(ValueError):
    pass


@dataclass(frozen=True)
class CheckScheme:
    """A weighted-sum check digit as the last character of a reference.

    mod10: check = 10 − (Σ dᵢ·wᵢ mod 10), 10 → 0 (docs/domain.md §2).
    mod11: check = 11 − (Σ dᵢ·wᵢ mod 11), 11 → 0; a remainder of 1 (check 10) cannot be
    written as one digit, so no reference with that body is valid.
    The reference is the len(weights) body digits followed by the check digit."""

    modulus: int
    weights: tuple[int, ...]

    @classmethod
    def parse(cls, text: str | None) -> "CheckScheme | None":
        """'none' (or empty) → None; 'mod10:1,3,1,3' / 'mod11:7,6,5,4,3,2'."""
        text = (text or "").strip().lower()
        if text in ("", "none"):
            return None
        name, _, weights = text.partition(":")
        if name not in ("mod10", "mod11"):
            raise CheckSchemeError(f"RENTFLOW_REF_CHECK: unknown scheme {name!r} (none, mod10:w1,w2,… or mod11:w1,…)")
        try:
            ws = tuple(int(w) for w in weights.split(","))
        except ValueError:
            raise CheckSchemeError(f"RENTFLOW_REF_CHECK: weights must be whole numbers: {weights!r}") from None
        if not ws:
            raise CheckSchemeError("RENTFLOW_REF_CHECK: no weights")
        return cls(10 if name == "mod10" else 11, ws)

    def check_digit(self, body: str) -> int | None:
        """The check digit for these body digits (None when the body cannot carry one)."""
        if len(body) != len(self.weights) or not body.isdigit():
            return None
        total = sum(int(d) * w for d, w in zip(body, self.weights))
        check = (self.modulus - total % self.modulus) % self.modulus
        return None if check == 10 else check

    def valid(self, reference: str) -> bool:
        if len(reference) != len(self.weights) + 1 or not reference.isdigit():
            return False
        return self.check_digit(reference[:-1]) == int(reference[-1])

    def with_check(self, body: str) -> str:
        check = self.check_digit(body)
        if check is None:
            raise ValueError(f"{body!r} cannot carry a check digit in this scheme")
        return body + str(check)
