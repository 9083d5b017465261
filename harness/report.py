"""The values a worker reports back: plain data, no torch, safe to import anywhere.

The parent process (which holds the labels) imports only this, never torch or
the submission.

Example:
    >>> Violation("features.3", "MyConv", "subclass", 0, "counts as 0 MACs").module
    'features.3'
"""
from __future__ import annotations

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
