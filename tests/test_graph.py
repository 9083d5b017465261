"""The clean recount: a code-free export, rebuilt with real torch.nn layers by our code only."""
import json
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from conftest import HERE, ROOT, json_of
from harness.complexity import count_complexity, counted_types
from harness.graph import GRAPH_FILE, WEIGHTS_FILE, UnsupportedGraph, export_model, rebuild_model
from harness.leaderboard import read_entries
from harness.submission import load_submission

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


def test_a_relabelled_graph_cannot_hide_a_conv(tmp_path):
    """Moving a conv out of its layer in the export cannot hide it: outside a counted layer it is refused."""
    model = load_submission(ROOT / "submissions" / "team7.py").build_model()
    export_model(model, torch.randn(2, 3, 14, 14), tmp_path)
    doc = json.loads((tmp_path / GRAPH_FILE).read_text())
    conv = next(n for n in doc["nodes"] if n.get("target") == "aten.conv2d.default")
    conv["stack"] = [["", "__main__.Anything"]]
    (tmp_path / GRAPH_FILE).write_text(json.dumps(doc))
    with pytest.raises(UnsupportedGraph, match="conv2d"):
        rebuild_model(tmp_path)


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


@pytest.mark.parametrize("mode", ["reflect", "circular", "replicate"])
@pytest.mark.parametrize("profile", ["2021", "modern"])
def test_conv_padding_modes_rebuild(mode, profile, tmp_path):
    from harness.verify import Tracer

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, (3, 5), padding=(1, 2), padding_mode=mode), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 9)).eval()
    x, rebuilt, _ = _roundtrip(model, (8, 8), tmp_path)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), model(x), atol=1e-5)
    assert count_complexity(rebuilt, x[:1], profile).macs == count_complexity(model, x[:1], profile).macs
    tracer = Tracer(rebuilt, profile)
    with torch.no_grad(), tracer.tracing(x) as trace:
        rebuilt(x)
    assert trace.violations == ()


def test_group_norm_without_weights_and_several_groups_rebuilds(tmp_path):
    from torch import nn

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4, affine=False), nn.Flatten(), nn.Linear(4 * 6 * 6, 9)).eval()
    x, rebuilt, _ = _roundtrip(model, (8, 8), tmp_path)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), model(x), atol=1e-5)
    assert count_complexity(rebuilt, x[:1], "modern").macs == count_complexity(model, x[:1], "modern").macs == 5481


def test_a_counted_layer_with_an_unknown_op_is_refused_by_name(tmp_path):
    model = load_submission(ROOT / "submissions" / "team7.py").build_model()
    export_model(model, torch.randn(2, 3, 14, 14), tmp_path)
    doc = json.loads((tmp_path / GRAPH_FILE).read_text())
    conv = next(n for n in doc["nodes"] if n.get("target") == "aten.conv2d.default")
    conv["target"] = "aten.convolution.default"
    (tmp_path / GRAPH_FILE).write_text(json.dumps(doc))
    with pytest.raises(UnsupportedGraph, match=r"\(Conv2d\) uses aten.convolution.default, which the clean recount does not rebuild"):
        rebuild_model(tmp_path)


class Probe(nn.Module):
    """An image in, 9 logits out, through one layer of the type under test."""

    def __init__(self, layer: nn.Module, shape: str):
        super().__init__()
        self.layer, self.shape = layer, shape
        self.head = nn.LazyLinear(9)

    def forward(self, x):
        if self.shape == "1d":
            x = x.flatten(2)                      # N x 3 x 64
        elif self.shape == "3d":
            x = x.reshape(x.shape[0], 3, 4, 4, 4)  # N x 3 x 4 x 4 x 4
        elif self.shape == "seq":
            x = x.flatten(2).transpose(1, 2)[:, :, :8].reshape(x.shape[0], 8, 24)[:, :, :8]  # N x 8 x 8
        elif self.shape == "vec":
            x = x.flatten(1)[:, :8]               # N x 8
        y = self.layer(x)
        while isinstance(y, tuple):
            y = y[0]
        return self.head(y.flatten(1))


def _layers():
    from torchvision.ops import DeformConv2d

    class Deform(nn.Module):
        def __init__(self):
            super().__init__()
            self.offset = nn.Conv2d(3, 18, 3, padding=1)
            self.conv = DeformConv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return self.conv(x, self.offset(x))

    return {
        nn.Conv1d: (nn.Conv1d(3, 4, 3), "1d"), nn.Conv2d: (nn.Conv2d(3, 4, 3, stride=2, groups=1), "2d"),
        nn.Conv3d: (nn.Conv3d(3, 4, 2), "3d"), nn.ConvTranspose1d: (nn.ConvTranspose1d(3, 4, 2, stride=2), "1d"),
        nn.ConvTranspose2d: (nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), "2d"),
        nn.ConvTranspose3d: (nn.ConvTranspose3d(3, 2, 2, stride=2), "3d"),
        nn.ReLU: (nn.ReLU(), "2d"), nn.PReLU: (nn.PReLU(3), "2d"), nn.ELU: (nn.ELU(0.5), "2d"),
        nn.LeakyReLU: (nn.LeakyReLU(0.2), "2d"), nn.ReLU6: (nn.ReLU6(), "2d"), nn.GELU: (nn.GELU(), "2d"),
        nn.MaxPool1d: (nn.MaxPool1d(3, 2), "1d"), nn.AvgPool1d: (nn.AvgPool1d(2), "1d"),
        nn.MaxPool2d: (nn.MaxPool2d(3, 2, padding=1), "2d"), nn.AvgPool2d: (nn.AvgPool2d(2, count_include_pad=False), "2d"),
        nn.MaxPool3d: (nn.MaxPool3d(2), "3d"), nn.AvgPool3d: (nn.AvgPool3d(2), "3d"),
        nn.AdaptiveMaxPool1d: (nn.AdaptiveMaxPool1d(5), "1d"), nn.AdaptiveAvgPool1d: (nn.AdaptiveAvgPool1d(5), "1d"),
        nn.AdaptiveMaxPool2d: (nn.AdaptiveMaxPool2d((3, 2)), "2d"), nn.AdaptiveAvgPool2d: (nn.AdaptiveAvgPool2d(3), "2d"),
        nn.AdaptiveMaxPool3d: (nn.AdaptiveMaxPool3d(2), "3d"), nn.AdaptiveAvgPool3d: (nn.AdaptiveAvgPool3d(2), "3d"),
        nn.BatchNorm1d: (nn.BatchNorm1d(3), "1d"), nn.BatchNorm2d: (nn.BatchNorm2d(3), "2d"), nn.BatchNorm3d: (nn.BatchNorm3d(3), "3d"),
        nn.InstanceNorm1d: (nn.InstanceNorm1d(3, affine=True), "1d"), nn.InstanceNorm2d: (nn.InstanceNorm2d(3, affine=True), "2d"),
        nn.InstanceNorm3d: (nn.InstanceNorm3d(3, affine=True), "3d"), nn.GroupNorm: (nn.GroupNorm(3, 3), "2d"),
        nn.LayerNorm: (nn.LayerNorm([8, 8]), "2d"), nn.Linear: (nn.Linear(8, 5), "2d"),
        nn.Upsample: (nn.Upsample(scale_factor=2, mode="bilinear"), "2d"),
        nn.RNN: (nn.RNN(8, 6, num_layers=2, batch_first=True), "seq"),
        nn.GRU: (nn.GRU(8, 6, batch_first=True, bidirectional=True), "seq"),
        nn.LSTM: (nn.LSTM(8, 6, batch_first=True, proj_size=4), "seq"),
        nn.RNNCell: (nn.RNNCell(8, 6, nonlinearity="relu"), "vec"), nn.GRUCell: (nn.GRUCell(8, 6), "vec"),
        nn.LSTMCell: (nn.LSTMCell(8, 6), "vec"),
        nn.MultiheadAttention: (MHA(), "seq"), DeformConv2d: (Deform(), "2d"),
    }


class MHA(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        return self.attention(x, x, x, need_weights=False)[0]


def test_the_table_covers_every_layer_ptflops_counts():
    assert set(_layers()) == set(counted_types())


@pytest.mark.parametrize("layer_type", sorted(counted_types(), key=lambda t: t.__name__), ids=lambda t: t.__name__)
def test_every_counted_layer_type_rebuilds_with_equal_logits_and_macs(layer_type, tmp_path):
    torch.manual_seed(0)
    layer, shape = _layers()[layer_type]
    model = Probe(layer, shape)
    model(torch.randn(2, 3, 8, 8))  # materialise the lazy head
    for m in model.modules():  # non-trivial normalisation statistics
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2)
    model.eval()
    x, rebuilt, names = _roundtrip(model, (8, 8), tmp_path)
    kinds = {type(m) for m in rebuilt.modules()}
    assert layer_type in kinds
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), model(x), atol=1e-5)
    for profile in ("2021", "modern"):
        assert count_complexity(rebuilt, x[:1], profile).macs == count_complexity(model, x[:1], profile).macs, profile


@pytest.mark.parametrize("node,refusal", [
    ({"target": "aten.from_file.default", "args": ["/etc/passwd", True, 10]}, "op aten.from_file.default is refused (not in the op table)"),
    ({"target": "aten._local_scalar_dense.default", "args": ["INPUT"]}, "is refused (not in the op table)"),
    ({"target": "aten.nonzero.default", "args": ["INPUT"]}, "is refused (not in the op table)"),
    ({"target": "aten.mul_.Tensor", "args": ["INPUT", 2.0]}, "op aten.mul_.Tensor is refused (writes in place)"),
])
def test_the_clean_worker_runs_a_closed_language(node, refusal, tmp_path):
    """A forged graph op outside the op table is refused by category, node and op name, before any image is seen."""
    export_model(nn.Sequential(nn.Conv2d(3, 4, 1)).eval(), torch.randn(2, 3, 8, 8), tmp_path)
    doc = json.loads((tmp_path / GRAPH_FILE).read_text())
    x = next(n["name"] for n in doc["nodes"] if n.get("kind") == "input")
    args = [{"$node": x} if a == "INPUT" else a for a in node["args"]]
    doc["nodes"].insert(-1, {"name": "forged", "op": "call_function", "stack": [], "target": node["target"], "args": args, "kwargs": {}})
    (tmp_path / GRAPH_FILE).write_text(json.dumps(doc))
    with pytest.raises(UnsupportedGraph, match=f"node forged: .*{refusal.replace('(', '.').replace(')', '.')}"):
        rebuild_model(tmp_path)
