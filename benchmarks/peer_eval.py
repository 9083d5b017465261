"""The peer: the plain script a host writes instead of this harness, to time against it.

It imports the submission, counts MACs with ptflops using the 2021 organisers' arguments,
decodes the held-out images through a torchvision `Dataset` + `DataLoader` (Resize,
ToTensor, Normalize, batch 64), predicts, and computes scikit-learn's macro-F1 over
every class. No sandbox, no verifier, no second worker, no cache, no leaderboard.

Run: `.venv/bin/python benchmarks/peer_eval.py SUBMISSION.py --config DIR/pyproject.toml [--workers 2]`;
it prints one JSON line: `macs`, `f1`, `images`, `seconds`.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sys
import time
import tomllib
from pathlib import Path


def main() -> None:
    start = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submission", type=Path)
    parser.add_argument("--config", type=Path, required=True, help="the competition's pyproject.toml ([tool.harness])")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    args = parser.parse_args()

    import torch
    from PIL import Image
    from ptflops import get_model_complexity_info
    from sklearn.metrics import f1_score
    from torch import nn
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    cfg = tomllib.loads(args.config.read_text())["tool"]["harness"]
    data = (args.config.parent / cfg.get("data", "data")).resolve()
    classes = list(cfg["classes"])

    spec = importlib.util.spec_from_file_location("peer_submission", args.submission)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model().eval()
    height, width = module.INPUT_SIZE

    macs, _params = get_model_complexity_info(model, (3, height, width), as_strings=False, print_per_layer_stat=False,
                                              ignore_modules=[nn.ReLU, nn.PReLU, nn.ELU, nn.LeakyReLU, nn.ReLU6])

    with (data / "answers.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    preprocessing = transforms.Compose([transforms.Resize((height, width)), transforms.ToTensor(),
                                        transforms.Normalize(cfg["mean"], cfg["std"])])

    class HeldOut(Dataset):
        def __len__(self):
            return len(rows)

        def __getitem__(self, i):
            with Image.open(data / "test" / rows[i]["image"]) as img:
                return preprocessing(img.convert("RGB")), classes.index(rows[i]["label"])

    predictions, labels = [], []
    with torch.no_grad():
        for x, y in DataLoader(HeldOut(), batch_size=64, num_workers=args.workers):
            predictions += model(x).argmax(dim=1).tolist()
            labels += y.tolist()
    f1 = f1_score(labels, predictions, labels=list(range(len(classes))), average="macro", zero_division=0)
    print(json.dumps({"macs": int(macs), "f1": float(f1), "images": len(rows), "seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    sys.exit(main())
