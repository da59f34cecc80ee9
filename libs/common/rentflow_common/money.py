"""Money as people read it. Amounts are integer pence everywhere; this is only how they are shown."""
from __future__ import annotations


def pounds(pence: int) -> str:
    """123456 → "£1,234.56"; -5 → "-£0.05"."""
    sign = "-" if pence < 0 else ""
    return f"{sign}£{abs(pence) // 100:,}.{abs(pence) % 100:02d}"


def balance_words(balance_pence: int) -> str:
    """A rent account balance as words: positive is owed (arrears), negative is credit."""
    if balance_pence > 0:
        return f"owes {pounds(balance_pence)}"
    if balance_pence < 0:
        return f"is {pounds(-balance_pence)} in credit"
    return "has a nil balance"
