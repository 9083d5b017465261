"""The clean recount: a code-free export, rebuilt with real torch.nn layers by our code only."""
import json
from pathlib import Path

import pytest
import torch
import torchvision

from conftest import json_of
from harness.complexity import count_complexity
from harness.graph import GRAPH_FILE, WEIGHTS_FILE, UnsupportedGraph, export_model, rebuild_model
from harness.leaderboard import read_entries
from harness.submission import load_submission

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODELS = sorted((ROOT / "submissions").glob("*.py")) + sorted((HERE / "honest").glob("*.py"))


def _roundtrip(model, size, tmp_path):
    x = torch.randn(3, 3, *size)
    export_model(model, x[:2], tmp_path)
    rebuilt, names = rebuild_model(tmp_path)
    return x, rebuilt, names


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_rebuilt_model_counts_and_predicts_like_the_original(path, tmp_path):
    sub = load_submission(path)
    model = sub.build_model()
    x, rebuilt, names = _roundtrip(model, sub.input_size, tmp_path)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), model(x), atol=1e-5)
    assert count_complexity(rebuilt, x[:1], "2021").macs == count_complexity(model, x[:1], "2021").macs
    assert set(names.values()) <= {p for p, _ in model.named_modules()}


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "squeezenet1_1", "resnet18"])
def test_torchvision_models_rebuild(name, tmp_path):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(num_classes=9).eval()
    x, rebuilt, _ = _roundtrip(model, (32, 32), tmp_path)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), model(x), atol=1e-4)
    assert count_complexity(rebuilt, x[:1], "2021").macs == count_complexity(model, x[:1], "2021").macs


def test_a_graph_calling_anything_but_aten_is_refused(tmp_path):
    model = load_submission(ROOT / "submissions" / "team7.py").build_model()
    export_model(model, torch.randn(2, 3, 14, 14), tmp_path)
    doc = json.loads((tmp_path / GRAPH_FILE).read_text())
    node = next(n for n in doc["nodes"] if n["op"] == "call_function" and "flatten" in n["target"])
    node["target"] = "builtins.eval"
    (tmp_path / GRAPH_FILE).write_text(json.dumps(doc))
    with pytest.raises(UnsupportedGraph, match="not an aten op"):
        rebuild_model(tmp_path)


def test_weights_are_never_unpickled(tmp_path):
    model = load_submission(ROOT / "submissions" / "team7.py").build_model()
    export_model(model, torch.randn(2, 3, 14, 14), tmp_path)
    torch.save({"payload": Path("/etc/passwd")}, tmp_path / WEIGHTS_FILE)  # not a plain tensor dict
    with pytest.raises(UnsupportedGraph, match="could not be read"):
        rebuild_model(tmp_path)


def test_a_relabelled_graph_is_counted_by_what_it_does(tmp_path):
    """Moving a conv out of its layer in the export cannot hide it: it becomes a graph op."""
    model = load_submission(ROOT / "submissions" / "team7.py").build_model()
    export_model(model, torch.randn(2, 3, 14, 14), tmp_path)
    doc = json.loads((tmp_path / GRAPH_FILE).read_text())
    conv = next(n for n in doc["nodes"] if n.get("target") == "aten.conv2d.default")
    conv["stack"] = [["", "__main__.Anything"]]
    (tmp_path / GRAPH_FILE).write_text(json.dumps(doc))
    rebuilt, _ = rebuild_model(tmp_path)
    assert "conv2d" in rebuilt.code


@pytest.mark.parametrize("name", ["forger.py", "forger_export.py"])
def test_a_forged_report_is_never_scored(invoke, tmp_path, name):
    lb = tmp_path / "lb.csv"
    result = invoke("evaluate", HERE / "broken" / name, "--leaderboard", lb, "--json")
    assert result.exit_code != 0
    assert not [e for e in read_entries(lb) if e.scored]
    if name == "forger_export.py":
        assert "clean recount" in result.output and "191,345" in result.output


def test_check_reports_the_clean_recount(invoke):
    d = json_of(invoke("check", ROOT / "submissions" / "team4.py", "--json").output)
    assert d["checks"]["clean_recount"] is True and d["macs"] == 191_345


def test_transposed_conv_upsample_and_instance_norm_rebuild(tmp_path):
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Upsample(size=(20, 20), mode="bilinear"), nn.InstanceNorm2d(4, affine=True), nn.Conv2d(4, 4, 3, groups=2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 9),
    ).eval()
    x, rebuilt, _ = _roundtrip(model, (8, 8), tmp_path)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), model(x), atol=1e-5)
    assert count_complexity(rebuilt, x[:1], "2021").macs == count_complexity(model, x[:1], "2021").macs


def test_an_unknown_counted_layer_is_refused_by_name(tmp_path):
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(6, 8, batch_first=True)
            self.fc = nn.Linear(8, 9)

        def forward(self, x):
            return self.fc(self.rnn(x.mean(1))[0][:, -1])

    model = Net().eval()
    export_model(model, torch.randn(2, 3, 5, 6), tmp_path)
    with pytest.raises(UnsupportedGraph, match=r"rnn \(GRU\)"):
        rebuild_model(tmp_path)
