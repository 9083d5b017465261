"""What the parent and a worker say to each other: JSON lines, validated on arrival.

The parent sends a `WorkerRequest`, then the inputs a worker asks for. A worker sends
events, one dataclass each, `encode`d on its side and `parse_event`ed on the parent's:
`Loaded` (the submission's contract values) or `Ready` (the clean worker), `Progress`,
then `Done` with its report, or `Failed`.

Everything a worker sends is untrusted: a submission's code ran in that process and
could have written anything on its channel. The parent accepts a line of at most
`MAX_LINE` bytes, only the known events, and only values of the expected types;
every text is cut to one line of at most `MAX_TEXT` characters.

Example:
    >>> one_line("RuntimeError: boom\\nsecond line")
    'RuntimeError: boom'
    >>> parse_loaded({"event": "loaded", "team": "t", "input_size": [28, 28], "transform": None}).input_size
    (28, 28)
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from harness.errors import WorkerError
from harness.report import LayerRow, ModelReport, Violation

WorkerMode = Literal["evaluate", "check", "recount"]
MAX_LINE = 8 * 2**20
MAX_TEXT = 300
MAX_TRANSFORM = 64 * 2**10
MAX_ITEMS = 20_000


@dataclass(frozen=True)
class WorkerRequest:
    """What a worker needs besides its inputs: nothing secret."""

    mode: WorkerMode
    submission: str
    team: str | None
    profile: str
    batch_size: int
    num_classes: int
    device: str
    outdir: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class Loaded:
    """The first worker's first message: the submission's contract values."""

    team: str
    input_size: tuple[int, int]
    transform: dict | None
    transform_problem: str | None


@dataclass(frozen=True)
class Ready:
    """The clean worker's first message: torch is imported, it waits for the graph."""


@dataclass(frozen=True)
class Progress:
    """Images predicted so far."""

    done: int
    total: int


@dataclass(frozen=True)
class Failed:
    """The worker failed: its failure class, a message and the stage it was in."""

    failure: str
    message: str
    stage: str


@dataclass(frozen=True)
class Done:
    """The worker finished: its report, and whether it wrote logits."""

    report: dict
    logits: bool


Event = Loaded | Ready | Progress | Failed | Done
EVENT_NAMES = {Loaded: "loaded", Ready: "ready", Progress: "progress", Failed: "error", Done: "done"}
WORKER_FAILURES = ("crashed", "out_of_memory", "invalid_output")
"""The failure classes a worker may claim for itself (a timeout is the parent's to say)."""


def encode(event: Event) -> str:
    """One line of the protocol for `event` (the worker's side)."""
    return json.dumps({"event": EVENT_NAMES[type(event)], **asdict(event)})


def parse_event(msg: dict) -> Event | None:
    """Validate one message of a worker (the parent's side); None for an unknown event."""
    event = msg.get("event")
    if event == "loaded":
        return parse_loaded(msg)
    if event == "ready":
        return Ready()
    if event == "progress":
        return Progress(_int(msg.get("done"), "progress"), _int(msg.get("total"), "progress"))
    if event == "error":
        failure = msg.get("failure") if msg.get("failure") in WORKER_FAILURES else "crashed"
        return Failed(failure, one_line(msg.get("message") or "the worker failed"), one_line(msg.get("stage") or "", 32))
    if event == "done":
        return Done(msg.get("report"), bool(msg.get("logits")))
    return None


def one_line(text: Any, limit: int = MAX_TEXT) -> str:
    """The first non-empty line of `text`, printable characters only, at most `limit` long."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    first = "".join(c for c in (lines[0] if lines else "") if c.isprintable())
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _invalid(what: str) -> WorkerError:
    return WorkerError("invalid_output", f"the worker sent an invalid {what}")


def _int(value, what: str, low: int = 0, high: int = 2**62) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _invalid(what)
    return value


def _float(value, what: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise _invalid(what)
    return float(value)


def _items(value, what: str) -> list:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise _invalid(what)
    return value


def decode_line(line: str) -> dict | None:
    """One message, or None for a line that is not a JSON object."""
    try:
        msg = json.loads(line)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None


def parse_loaded(msg: dict) -> Loaded:
    """Validate the `loaded` event of a worker that imported a submission."""
    team = msg.get("team")
    if not isinstance(team, str) or not one_line(team, 64) or one_line(team, 64) != team.strip():
        raise _invalid("team name (one line of at most 64 characters)")
    size = msg.get("input_size")
    if not isinstance(size, list) or len(size) != 2:
        raise _invalid("input size")
    transform = msg.get("transform")
    if transform is not None and (not isinstance(transform, dict) or len(json.dumps(transform)) > MAX_TRANSFORM):
        raise _invalid("transform (a dict from A.to_dict of at most 64 KiB)")
    problem = msg.get("transform_problem")
    return Loaded(team=team.strip(), input_size=(_int(size[0], "input size", 1, 4096), _int(size[1], "input size", 1, 4096)),
                  transform=transform, transform_problem=one_line(problem) if problem else None)


def parse_report(d: Any) -> ModelReport:
    """Rebuild a worker's report from untrusted JSON: types checked, texts cut to one line."""
    if not isinstance(d, dict):
        raise _invalid("report")
    try:
        violations = tuple(
            Violation(one_line(v["module"]), one_line(v["module_type"]), one_line(v["op"]),
                      _int(v["uncounted_macs"], "violation"), one_line(v["reason"], 600))
            for v in _items(d["violations"], "violations"))
        layers = tuple(
            LayerRow(one_line(r["module"]), one_line(r["module_type"]),
                     tuple(_int(s, "shape") for s in _items(r["output_shape"], "shape")), _int(r["calls"], "layer"),
                     _int(r["macs"], "layer"))
            for r in _items(d["layers"], "layers"))
        checks, reasons = d.get("checks", {}), d.get("check_reasons", {})
        profile_macs = d["profile_macs"]
        if not all(isinstance(x, dict) for x in (checks, reasons, profile_macs)):
            raise _invalid("report")
        return ModelReport(
            team=one_line(d["team"], 64), input_size=tuple(_int(s, "input size", 1, 4096) for s in _items(d["input_size"], "size")),
            macs=_int(d["macs"], "MAC count"), params=_int(d["params"], "parameter count"), profile=one_line(d["profile"], 16),
            profile_macs={one_line(k, 16): _int(v, "MAC count") for k, v in list(profile_macs.items())[:8]},
            aten_macs=_int(d["aten_macs"], "MAC count"), weights_bytes=_int(d["weights_bytes"], "size"),
            sparsity=_float(d["sparsity"], "sparsity"), violations=violations,
            notes=tuple(one_line(n, 600) for n in _items(d["notes"], "notes")[:50]), layers=layers,
            seconds_per_image=_float(d["seconds_per_image"], "timing"),
            checks={one_line(k, 40): bool(v) for k, v in list(checks.items())[:40]},
            check_reasons={one_line(k, 40): one_line(v, 600) for k, v in list(reasons.items())[:40]},
        )
    except (KeyError, TypeError, AttributeError):
        raise _invalid("report") from None
