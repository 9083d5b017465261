"""Team names: the one validator every command uses, and a look-alike skeleton.

A team name comes from `--team`, a literal `TEAM = "..."` or the file's stem, and ends
up in terminals, HTML, plots and CSV files. `validate_team` normalises it (NFKC, outer
spaces stripped) and refuses, with one line saying why:

- an empty name, or one longer than `MAX_TEAM_LENGTH` characters;
- any character other than letters of any script (with their combining marks), digits,
  `.`, `_`, `-` and space: so no control, bidi or format character, no markup brackets,
  no `=`, `$` or `@`;
- letters of more than one script (`tеam4` with a Cyrillic "е" mixes Latin and Cyrillic);
- a name that differs from a registered or existing team but has the same `skeleton`.

`skeleton` is a small TR39-style skeleton, not the full Unicode confusables table: NFKC,
Cyrillic and Greek capitals that look like Latin ones mapped to them, case folding, then
`CONFUSABLES`, which maps the common Cyrillic and Greek homoglyphs of Latin letters and
the digits 0 and 1 to the Latin letter they imitate. Scripts it
does not list are compared by case folding only.

Example:
    >>> validate_team(" team4 ")
    'team4'
    >>> skeleton("Tеam4") == skeleton("team4")   # Cyrillic е
    True
"""
from __future__ import annotations

import unicodedata
from typing import Iterable

from harness.errors import RulesError

MAX_TEAM_LENGTH = 40
ALLOWED_PUNCTUATION = frozenset("._- ")
CONFUSABLES = {
    # Cyrillic (lower case; upper case folds to these first)
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j", "к": "k", "м": "m", "н": "h",
    "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ү": "y",
    "ӏ": "l", "ь": "b",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "μ": "u", "ν": "v", "ο": "o", "ρ": "p",
    "σ": "o", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j", "ζ": "z",
    # Latin and digits that imitate other Latin letters
    "0": "o", "1": "l", "ı": "i", "ſ": "s",
}
"""Homoglyph -> the Latin letter it imitates (after NFKC and case folding)."""
CONFUSABLE_CAPITALS = {
    **dict(zip("АВЕКМНОРСТХЅІЈ", "ABEKMHOPCTXSIJ")),  # Cyrillic
    **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX")),  # Greek
}
"""Capitals whose lower case looks different (Greek Μ is M, its μ is u): mapped before case folding."""
_SCRIPT_GROUPS = {"HIRAGANA": "JAPANESE", "KATAKANA": "JAPANESE", "KATAKANA-HIRAGANA": "JAPANESE", "CJK": "JAPANESE"}


def skeleton(name: str) -> str:
    """What a name looks like: NFKC, case folded, homoglyphs mapped to Latin (see `CONFUSABLES`).

    >>> skeleton("ΤΕΑΜ4"), skeleton("team0")
    ('team4', 'teamo')
    """
    text = unicodedata.normalize("NFKC", name)
    folded = "".join(CONFUSABLE_CAPITALS.get(ch, ch) for ch in text).casefold()
    return "".join(CONFUSABLES.get(ch, ch) for ch in unicodedata.normalize("NFKC", folded))


def _script(ch: str) -> str:
    """The script of a letter: the first word of its Unicode name (LATIN, CYRILLIC, GREEK, ...)."""
    first = unicodedata.name(ch, "UNKNOWN").split()[0]
    return _SCRIPT_GROUPS.get(first, first)


def _refuse(name: str, why: str) -> RulesError:
    return RulesError(f"team name {ascii(name)} is refused: {why}")


def validate_team(name: str, known: Iterable[str] = ()) -> str:
    """The normalised team name; RulesError with one line when it is not allowed (module docstring).

    `known` are the registered teams and those already on the board: a different name
    with the same skeleton as one of them is refused.

    >>> validate_team("tеam4", ["team4"])
    Traceback (most recent call last):
    ...
    harness.errors.RulesError: team name 't\\u0435am4' is refused: it mixes CYRILLIC and LATIN letters
    """
    text = unicodedata.normalize("NFKC", str(name)).strip()
    if not text:
        raise _refuse(name, "it is empty")
    if len(text) > MAX_TEAM_LENGTH:
        raise _refuse(name, f"it is longer than {MAX_TEAM_LENGTH} characters")
    for ch in text:
        category = unicodedata.category(ch)
        if not (category[0] in "LM" or category == "Nd" or ch in ALLOWED_PUNCTUATION):
            raise _refuse(name, f"character {ascii(ch)} is not allowed (letters, digits, '.', '_', '-' and space only)")
    scripts = sorted({_script(ch) for ch in text if unicodedata.category(ch)[0] == "L"})
    if len(scripts) > 1:
        raise _refuse(name, f"it mixes {' and '.join(scripts)} letters")
    mine = skeleton(text)
    for other in known:
        if other != text and skeleton(other) == mine:
            raise _refuse(name, f"it looks like the existing team {ascii(other)}; choose a distinct name")
    return text
