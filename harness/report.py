"""The values a worker reports back: plain data, no torch, safe to import anywhere.

The parent process (which holds the labels) imports only this, never torch or
the submission.

Example:
    >>> Violation("features.3", "MyConv", "subclass", 0, "counts as 0 MACs").module
    'features.3'
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Violation:
    """One way in which a model's compute escapes the count."""

    module: str
    module_type: str
    op: str
    uncounted_macs: int
    reason: str

    def __str__(self) -> str:
        return f"{self.module} ({self.module_type}): {self.reason}"


@dataclass(frozen=True)
class LayerRow:
    """One counted layer of the per-layer table (batch size 1)."""

    module: str
    module_type: str
    output_shape: tuple[int, ...]
    calls: int
    macs: int


@dataclass(frozen=True)
class ModelReport:
    """Everything the worker measured about one submission (no labels involved)."""

    team: str
    input_size: tuple[int, int]
    macs: int
    params: int
    profile: str
    profile_macs: dict[str, int]
    aten_macs: int
    weights_bytes: int
    sparsity: float
    violations: tuple[Violation, ...]
    notes: tuple[str, ...]
    layers: tuple[LayerRow, ...]
    seconds_per_image: float
    checks: dict[str, bool] = field(default_factory=dict)
    check_reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelReport":
        d = dict(d)
        d["input_size"] = tuple(d["input_size"])
        d["violations"] = tuple(Violation(**v) for v in d["violations"])
        d["notes"] = tuple(d["notes"])
        d["layers"] = tuple(LayerRow(**{**r, "output_shape": tuple(r["output_shape"])}) for r in d["layers"])
        return cls(**d)


_NAMES = r"[A-Za-z_]\w*(?:, [A-Za-z_]\w*)*"
_OWNER = r"[\w.]+ \([A-Za-z_]\w*\)"
NOTE_VOCABULARY = tuple(re.compile(p) for p in (
    rf"layers ptflops does not know \(counted as 0 MACs; their compute must stay elementwise\): {_NAMES}",
    r"layers profile '(2021|modern)' does not count \((ptflops 0\.6\.4, the 2021 competition's counter|ptflops 0\.7\.5)"
    rf"; 0 MACs, their compute must stay elementwise\): {_NAMES}",
    rf"parameters or buffers held by modules ptflops does not count: {_OWNER}(?:, {_OWNER})*(?: \.\.\.)?",
    r"\d{1,3}% of the weights are zero: unstructured pruning does not lower the counted MACs "
    r"\(ptflops counts layer shapes\); remove channels or layers instead",
))
"""The only notes a row's report may carry: the sentences the harness itself writes, with names in them."""


def fixed_notes(notes: tuple[str, ...]) -> tuple[str, ...]:
    """The notes that are sentences of the harness's own vocabulary; anything else a worker sent is dropped.

    >>> fixed_notes(("verified by the organisers", "layers ptflops does not know (counted as 0 MACs; "
    ...              "their compute must stay elementwise): Hardswish"))[0][-9:]
    'Hardswish'
    >>> fixed_notes(("verified by the organisers",))
    ()
    """
    return tuple(n for n in notes if any(p.fullmatch(n) for p in NOTE_VOCABULARY))
