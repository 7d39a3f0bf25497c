"""The external calculator of Magister et al. 2022 (Teaching Small Language Models to Reason).

GSM8K rationales annotate each step as `<<48/2=24>>24`. Small models get the reasoning right
more often than the arithmetic, so at evaluation the calculator takes over once the model has
written `<<expr=`: it computes `expr` and writes the result and `>>` for the model, which goes
on from there. The expression comes from model output, so it is never given to eval(): its
syntax tree is walked, and only numbers, + - * / ** and parentheses are computed, with bounds
that make a hostile `9**9**9` answer None at once.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, localcontext

from bench.generation.answers import canonical_decimal
from bench.generation.decoding import Steer, StepHook

MAX_EXPRESSION_CHARS = 200  # GSM8K annotations are under 60 characters
MAX_EXPONENT = 100
MAX_MAGNITUDE = 1e30  # every intermediate result; GSM8K's largest numbers are under 1e10
DECIMALS = 6  # GSM8K writes 1/3 as 0.33 or 0.333; six decimals compare either way after rounding
# Checked before parsing: anything else (names, quotes, commas, `_`, exponents, `%`) is refused.
_ALLOWED_CHARACTERS = re.compile(r"[0-9.+\-*/()\s]*")
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


class _Refused(Exception):
    """The expression is not plain bounded arithmetic."""


def evaluate_arithmetic(expression: str) -> str | None:
    """The value of `expression` as GSM8K writes it ("24", "0.5", "0.333333"); None when it is
    not plain arithmetic on numbers (+ - * / ** and parentheses), or its value is out of bounds."""
    expression = expression.strip()
    if not expression or len(expression) > MAX_EXPRESSION_CHARS or not _ALLOWED_CHARACTERS.fullmatch(expression):
        return None
    try:
        value = _evaluate(ast.parse(expression, mode="eval").body)
    except (_Refused, SyntaxError, ValueError, ArithmeticError, MemoryError, RecursionError):
        return None  # ArithmeticError: division by zero, float overflow
    return _as_annotation(value)


def _evaluate(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _bounded(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _bounded(_BINARY[type(node.op)](left, right))
    raise _Refused(type(node).__name__)


def _check_power(base: int | float, exponent: int | float) -> None:
    """Refuse a power before computing it when its exponent or its size is out of bounds."""
    if abs(exponent) > MAX_EXPONENT:
        raise _Refused("exponent")
    if abs(base) > 1 and exponent * math.log10(abs(base)) > math.log10(MAX_MAGNITUDE):
        raise _Refused("magnitude")


def _bounded(value) -> int | float:
    # A negative base to a fractional power is complex in Python; nan and inf are no answers.
    if not isinstance(value, (int, float)) or not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise _Refused("value")
    return value


def _as_annotation(value: int | float) -> str:
    """Integral values without decimals, others rounded to DECIMALS, trailing zeros dropped."""
    exact = Decimal(value) if isinstance(value, int) else Decimal(repr(value))  # repr: the shortest round trip
    with localcontext() as context:
        context.prec = 100  # room for 1e30 with DECIMALS decimals
        rounded = exact.quantize(Decimal(1).scaleb(-DECIMALS), rounding=ROUND_HALF_UP)
    return canonical_decimal(rounded)


def calculator_hook(tokenizer) -> StepHook:
    """A step hook (bench.generation.decoding) that, once the generated text ends with `=`
    inside an open `<<` annotation, forces the tokens of the expression's value and `>>`.

    An expression that does not evaluate leaves the model's text untouched. An annotation the
    hook filled in is never filled in again, even if its `>>` did not come out as such: its
    text between `<<` and the next `=` already holds an `=`, which is no arithmetic.
    """

    def hook(row: int, generated: Sequence[int]) -> Steer | None:
        text = tokenizer.decode(generated, skip_special_tokens=True)
        if not text.endswith("="):
            return None
        start = text.rfind("<<")
        if start < 0 or text.rfind(">>") > start:
            return None
        result = evaluate_arithmetic(text[start + 2 : -1])
        if result is None:
            return None
        return Steer(force=tuple(tokenizer.encode(result + ">>", add_special_tokens=False)))

    return hook


def combine_hooks(*hooks: StepHook) -> StepHook:
    """One hook from several: a stop from any of them wins, else the first that forces tokens."""

    def hook(row: int, generated: Sequence[int]) -> Steer | None:
        forced = None
        for each in hooks:
            steer = each(row, generated)
            if steer is not None and steer.stop:
                return steer
            if forced is None and steer is not None and steer.force:
                forced = steer
        return forced

    return hook
