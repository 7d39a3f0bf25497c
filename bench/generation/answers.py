"""The final number of a GSM8K answer, extracted as lm-evaluation-harness does for gsm8k.

Two readings of a model's text are common: the strict one (the number after `#### `, the format
the model was shown) and the flexible one (the last number it wrote, for models that answer in
prose). Both are compared to the reference's `#### N` as numbers, after removing `$` and
thousands commas, so "$1,000.00" answers "1000". Decimal keeps "0.1" exactly "0.1"; a float
would not.
"""

from __future__ import annotations

import re
from decimal import Decimal

# lm-evaluation-harness, tasks/gsm8k: the strict filter takes the first match, the flexible one
# the last.
STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
# What is left of a number once `$`, commas and trailing periods are gone: no exponents,
# no "nan"/"inf", no underscores (all of which Decimal() would accept).
_PLAIN_NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")


def canonical_decimal(value: Decimal) -> str:
    """`value` written without exponent or trailing zeros: Decimal("72.00") -> "72",
    Decimal("1E+3") -> "1000", Decimal("-0.0") -> "0"."""
    if value == 0:
        return "0"
    text = format(value, "f")  # never an exponent, never rounded (unlike str() or normalize())
    return text.rstrip("0").rstrip(".") if "." in text else text


def normalise_number(text: str) -> str | None:
    """`text` as a canonical decimal string ("$1,000.00" -> "1000", ".5" -> "0.5"); None when
    it is not a number once `$`, thousands commas, spaces and trailing periods are removed."""
    cleaned = text.replace("$", "").replace(",", "").strip().rstrip(".")
    if not _PLAIN_NUMBER.fullmatch(cleaned):
        return None
    return canonical_decimal(Decimal(cleaned))


def strict_answer(text: str) -> str | None:
    """The number after the first `#### ` (lm-eval's strict match), normalised; None without one."""
    match = STRICT.search(text)
    return normalise_number(match.group(1)) if match else None


def flexible_answer(text: str) -> str | None:
    """The last number of `text` (lm-eval's flexible match), normalised; None without one.

    The flexible pattern also matches runs such as "..." or ".,"; lm-eval would answer with
    those, here they are skipped for the last match that is a number."""
    for match in reversed(list(FLEXIBLE.finditer(text))):
        number = normalise_number(match.group(1) or match.group(2))
        if number is not None:
            return number
    return None


def reference_answer(answer: str) -> str:
    """The normalised number after `#### ` in a GSM8K reference answer."""
    number = strict_answer(answer)
    if number is None:
        shown = answer if len(answer) <= 80 else "..." + answer[-77:]
        raise ValueError(f"GSM8K reference answer has no '#### <number>' final answer: {shown!r}")
    return number


def is_correct(predicted: str | None, reference: str) -> bool:
    """Whether the extracted answer equals the reference as a number ("72.00" == "72")."""
    if predicted is None:
        return False
    ours, theirs = normalise_number(predicted), normalise_number(reference)
    return ours is not None and theirs is not None and Decimal(ours) == Decimal(theirs)
