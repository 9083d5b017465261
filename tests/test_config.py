"""The competition configuration: loaded from one table, errors named by key."""
import pytest

from harness.config import load_config
from harness.errors import ConfigError


def test_repository_config_is_the_default_competition(cfg):
    assert cfg.num_classes == 9
    assert cfg.profile == "2021"
    assert cfg.reference.macs > 0 and 0.9 <= cfg.reference.f1 <= 1.0
    assert cfg.reference_path.name == "reference.py"


@pytest.mark.parametrize(
    "override,key",
    [
        ({"reference_macs": -3}, "reference_macs"),
        ({"reference_f1": "high"}, "reference_f1"),
        ({"profile": "fancy"}, "profile"),
        ({"std": [0.1, 0.0, 0.1]}, "std"),
        ({"daily_limit": -1}, "daily_limit"),  # 0 pauses submissions
        ({"classes": ["a"]}, "classes"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_errors_name_the_key(write_config, override, key):
    with pytest.raises(ConfigError, match=key):
        load_config(write_config(**override))


def test_missing_required_key(write_config):
    with pytest.raises(ConfigError, match="reference_macs: missing"):
        load_config(write_config(reference_macs=None))


def test_cli_reports_a_broken_config_in_one_line(invoke, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[tool.harness\n")
    result = invoke("leaderboard", "--config", bad, "--leaderboard", tmp_path / "lb.csv")
    assert result.exit_code == 3
    assert "not valid TOML" in result.output and "Traceback" not in result.output
