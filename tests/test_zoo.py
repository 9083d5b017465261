"""The baselines zoo: every entry is accepted, the committed board holds its real scores."""
import re
from pathlib import Path

import numpy as np
import pytest

from harness.data import open_dataset
from harness.preprocess import cached_test_tensor, default_transform, pipeline_key
from harness.inspection import analyse, pre_submission_checks, prepare_model
from harness.leaderboard import read_entries
from harness.submission import load_submission
from harness.tamper import Snapshot
from conftest import ROOT

ZOO = sorted((ROOT / "submissions").glob("*.py")) + [ROOT / "baselines" / "reference.py"]


@pytest.fixture(scope="module")
def test_images(cfg):
    dataset = open_dataset(cfg.data_dir, cfg.classes)
    return {size: np.load(cached_test_tensor(dataset, size, default_transform(size, cfg.mean, cfg.std), pipeline_key(None, cfg.mean, cfg.std))[0])[:48]
            for size in ((28, 28), (20, 20), (14, 14))}


@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_every_zoo_submission_passes_the_checks(path, test_images, cfg):
    sub = load_submission(path)
    model = prepare_model(sub)
    images = test_images[sub.input_size]
    report, logits = analyse(sub, model, images, cfg.profile, 16, 9, Snapshot.take())
    assert report.violations == (), [str(v) for v in report.violations]
    checks, reasons = pre_submission_checks(sub, model, images[:8], 9)
    assert all(checks.values()), reasons
    assert report.weights_bytes > 0


def test_committed_board_holds_the_zoo(cfg):
    rows = {Path(e.submission).name: e for e in read_entries(ROOT / "leaderboard.csv") if e.scored}
    assert {p.name for p in ZOO} <= set(rows), "every zoo submission has a scored row"
    below = [name for name, e in rows.items() if e.public_score < 1.0]
    assert len(below) >= 3, below
    reference, quantized, masked = rows["reference.py"], rows["zoo_quantized.py"], rows["zoo_magnitude_pruned.py"]
    assert reference.public_score == pytest.approx(1.0, abs=1e-6)
    assert quantized.macs == masked.macs == reference.macs == cfg.reference.macs


def test_quantization_cuts_the_weights_file_about_four_times():
    reference = (ROOT / "baselines" / "reference.pt").stat().st_size
    quantized = (ROOT / "submissions" / "zoo_quantized.pt").stat().st_size
    assert 3.3 < reference / quantized < 4.5


def test_readme_table_lists_every_zoo_entry():
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- zoo-table:start -->(.*?)<!-- zoo-table:end -->", readme, re.S).group(1)
    for path in ZOO:
        assert f"`{path.relative_to(ROOT)}`" in table
