"""`harness reference`: recompute the reference, report drift, pin new values."""
import pytest

from harness.config import load_config

pytestmark = pytest.mark.slow  # every test here starts isolated workers


def test_pinned_values_match_a_recomputation(invoke):
    result = invoke("reference")
    assert result.exit_code == 0, result.output
    assert "no drift" in result.output


def test_drift_is_reported_and_write_pins_the_new_values(invoke, write_config, cfg):
    config = write_config(reference_macs=123, reference_f1=0.5, reference_private_f1=0.5, reference_private_macs=77)
    drift = invoke("reference", "--config", config)
    assert drift.exit_code == 1 and "drift" in drift.output
    written = invoke("reference", "--config", config, "--write")
    assert written.exit_code == 0, written.output
    pinned = load_config(config)
    assert pinned.reference.macs == pinned.reference_private_macs == cfg.reference.macs
    assert abs(pinned.reference.f1 - cfg.reference.f1) < 1e-6
    assert invoke("reference", "--config", config).exit_code == 0
