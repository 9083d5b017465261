"""harness.complexity against the real counters: tests/golden/ptflops.json holds what ptflops 0.6.4
(the 2021 organisers' call) and ptflops 0.7.5 (its defaults) count for every layer type of either
table and the seed ShuffleNets. `python scripts/golden_ptflops.py` regenerates it from the real packages."""
import importlib.util
import json
from pathlib import Path

import pytest

from harness.complexity import count_complexity, counted_types

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
GOLDEN = json.loads((GOLDEN_DIR / "ptflops.json").read_text())


def _models_module():
    spec = importlib.util.spec_from_file_location("golden_models", GOLDEN_DIR / "models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MODELS = _models_module()
BUILDERS = MODELS.golden_models()


def test_the_golden_file_covers_every_model_and_nothing_else():
    assert list(GOLDEN["models"]) == list(BUILDERS)


def test_every_layer_type_of_either_table_is_covered():
    seen = {type(m) for build, _shape in BUILDERS.values() for m in build().modules()}
    missing = {t.__name__ for t in counted_types() - seen if t.__module__.startswith("torch.nn")}
    assert missing == set()


@pytest.mark.parametrize("profile", ["2021", "modern"])
@pytest.mark.parametrize("name", list(BUILDERS))
def test_the_harness_counts_as_the_real_counter(name, profile):
    build, shape = BUILDERS[name]
    assert list(shape) == GOLDEN["models"][name]["input"]
    macs = count_complexity(build(), MODELS.example_input(shape), profile).macs
    assert macs == GOLDEN["models"][name][profile]


@pytest.mark.parametrize("repeats,conv_head,linear_head", [("4-8-4", 1_688_940, 1_688_949), ("2-5-2", 1_083_210, 1_083_219)])
def test_the_seed_shufflenets_match_the_2021_figures(repeats, conv_head, linear_head):
    assert GOLDEN["models"][f"shufflenet_v1_g3_w025_{repeats}_conv_head"]["2021"] == conv_head
    assert GOLDEN["models"][f"shufflenet_v1_g3_w025_{repeats}_linear_head"]["2021"] == linear_head
