"""Seeded recipes for the baselines zoo: the compression techniques competitors use.

    python baselines/zoo.py all                      # every recipe, a few minutes on 2 CPU cores
    python baselines/zoo.py channel_pruned quantized

Each recipe writes `submissions/zoo_<name>.pt`. Those that start from the reference
read `baselines/reference.pt`. Then `python baselines/zoo_table.py` scores them with the
harness and rewrites the README's table.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from common import ROOT, class_weights, fit, load_config, load_split, load_submission

SUBMISSIONS = ROOT / "submissions"


def _setup(name: str):
    cfg = load_config(ROOT / "pyproject.toml")
    sub = load_submission(SUBMISSIONS / f"zoo_{name}.py")
    torch.manual_seed(0)
    return cfg, sub, load_split("train", sub.input_size, cfg), load_split("val", sub.input_size, cfg)


def _reference():
    return load_submission(ROOT / "baselines" / "reference.py").build_model()


def _save(name: str, state: dict, f1: float) -> None:
    out = SUBMISSIONS / f"zoo_{name}.pt"
    torch.save(state, out)
    print(f"{name}: best val macro-F1 {f1:.4f}, weights -> {out.relative_to(ROOT)}")


def shufflenet() -> None:
    """Group convolutions and a channel shuffle at a reduced input size, from scratch."""
    cfg, sub, train, val = _setup("shufflenet")
    _save("shufflenet", *fit("shufflenet", sub.module.make_model(cfg.num_classes), train, val, epochs=60, lr=4e-3))


def distilled() -> None:
    """Knowledge distillation: alpha * T^2 * KL(teacher/T || student/T) + (1 - alpha) * CE."""
    cfg, sub, train, val = _setup("distilled")
    alpha, temperature = sub.module.DISTILLATION["alpha"], sub.module.DISTILLATION["temperature"]
    teacher = _reference()
    cross_entropy = nn.CrossEntropyLoss(weight=class_weights(train[1], cfg.num_classes))

    def loss(logits, labels, inputs):
        with torch.no_grad():
            soft_targets = F.softmax(teacher(inputs) / temperature, dim=1)
        kl = F.kl_div(F.log_softmax(logits / temperature, dim=1), soft_targets, reduction="batchmean")
        return alpha * temperature**2 * kl + (1 - alpha) * cross_entropy(logits, labels)

    _save("distilled", *fit("distilled", sub.module.make_model(cfg.num_classes), train, val, epochs=60, lr=4e-3, loss_fn=loss))


def layer_pruned() -> None:
    """Remove the reference's middle conv unit, keep the rest of its weights, fine-tune."""
    cfg, sub, train, val = _setup("layer_pruned")
    reference, model = _reference(), sub.module.make_model(cfg.num_classes)
    for ref_i, new_i in ((0, 0), (1, 1), (9, 5), (13, 9)):  # conv1, bn1, bn3, classifier
        model[new_i].load_state_dict(reference[ref_i].state_dict())
    _save("layer_pruned", *fit("layer_pruned", model, train, val, epochs=40, lr=3e-3))


def _l1_keep(conv: nn.Conv2d, n: int) -> torch.Tensor:
    """Indices of the `n` filters of largest L1 norm, in their original order."""
    return conv.weight.detach().abs().sum(dim=(1, 2, 3)).topk(n).indices.sort().values


def channel_pruned() -> None:
    """Keep the filters of largest L1 norm in every conv, shrink the shapes, fine-tune."""
    cfg, sub, train, val = _setup("channel_pruned")
    reference, model = _reference(), sub.module.make_model(cfg.num_classes)
    convs, bns = (0, 4, 8), (1, 5, 9)
    previous = torch.arange(3)
    for conv_i, bn_i, width in zip(convs, bns, sub.module.WIDTHS):
        keep = _l1_keep(reference[conv_i], width)
        model[conv_i].weight.data = reference[conv_i].weight.data[keep][:, previous].clone()
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(model[bn_i], name).data = getattr(reference[bn_i], name).data[keep].clone()
        previous = keep
    model[13].weight.data = reference[13].weight.data[:, previous].clone()
    model[13].bias.data = reference[13].bias.data.clone()
    _save("channel_pruned", *fit("channel_pruned", model, train, val, epochs=25, lr=2e-3))


def decomposed() -> None:
    """Replace the two inner 3x3 convs by depthwise + pointwise pairs; keep the rest; fine-tune."""
    cfg, sub, train, val = _setup("decomposed")
    reference, model = _reference(), sub.module.make_model(cfg.num_classes)
    for ref_i, new_i in ((0, 0), (1, 1), (5, 6), (9, 11), (13, 15)):  # conv1, bn1, bn2, bn3, classifier
        model[new_i].load_state_dict(reference[ref_i].state_dict())
    _save("decomposed", *fit("decomposed", model, train, val, epochs=40, lr=3e-3))


def quantized() -> None:
    """Min-max quantization of every floating tensor to uint8 (no retraining)."""
    cfg, sub, _train, val = _setup("quantized")
    state = _reference().state_dict()
    names, shapes, ranges, codes, integers = [], [], [], [], {}
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            integers[name] = tensor
            continue
        low, high = tensor.min().item(), tensor.max().item()
        scale = (high - low) / 255 if high > low else 1.0
        codes.append(torch.round((tensor.flatten() - low) / scale).to(torch.uint8))
        names.append(name)
        shapes.append(list(tensor.shape))
        ranges.append([low, scale])
    packed = {"names": names, "shapes": shapes, "ranges": torch.tensor(ranges, dtype=torch.float64),
              "codes": torch.cat(codes), "integers": integers}
    model = sub.module.make_model(cfg.num_classes)
    model.load_state_dict(sub.module.dequantize(packed))
    from common import evaluate_f1

    _save("quantized", packed, evaluate_f1(model, *val))


def magnitude_pruned(sparsity: float = 0.8) -> None:
    """Zero the smallest 80% of conv/linear weights (global magnitude), fine-tune with the mask held."""
    cfg, sub, train, val = _setup("magnitude_pruned")
    model = sub.module.make_model(cfg.num_classes)
    model.load_state_dict(_reference().state_dict())
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    threshold = torch.cat([w.detach().abs().flatten() for w in weights]).quantile(sparsity)
    masks = [(w.detach().abs() > threshold).float() for w in weights]

    def apply_masks(_model):
        with torch.no_grad():
            for w, mask in zip(weights, masks):
                w.mul_(mask)

    apply_masks(model)
    _save("magnitude_pruned", *fit("magnitude_pruned", model, train, val, epochs=15, lr=1e-3, after_step=apply_masks))


RECIPES = {f.__name__: f for f in (shufflenet, distilled, layer_pruned, channel_pruned, decomposed, quantized, magnitude_pruned)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="+", choices=["all", *RECIPES])
    args = parser.parse_args()
    torch.set_num_threads(2)
    for name in RECIPES if "all" in args.recipes else args.recipes:
        RECIPES[name]()


if __name__ == "__main__":
    main()
