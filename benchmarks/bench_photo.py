"""Benchmark at the scale of a real competition: photo-like JPEGs, side by side with the peer script.

Builds the competition of `photo_competition.py` (9,900 JPEGs of 384 x 288 by default;
`--images N` scales everything down) in a temporary folder, then prints from one run,
with the repetitions interleaved so that a loaded machine slows every variant alike:

- `harness init` and `harness reference --write`, seconds per 1,000 source images;
- `harness evaluate` of mobilenet_v3_small at 96 x 96, cold (a fresh cache) and warm,
  against `peer_eval.py` with 0 and 2 DataLoader workers, and the ratios;
- the cold `evaluate` cost per test image at 1k, 3k and 10k test images (hard links of
  the same JPEGs; scaled by `--images`), which should stay flat;
- `evaluate A B C D --jobs 2` (two input sizes) against four sequential runs, cold;
- with `--memory`: the peak RSS of the parent and of each worker at 10k test images, 224 px.

Run: `make bench` or `.venv/bin/python benchmarks/bench_photo.py [--images N] [--repeats R] [--memory]`.
Figures are printed as measured in this run; nothing is asserted.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from photo_competition import make_photos, make_submission  # noqa: E402

BIN = Path(sys.executable).parent
ENV = dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1", PYTHONPATH=str(ROOT))


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], cache: Path, cwd: Path | None = None, code: Path = ROOT) -> tuple[float, float]:
    """(wall seconds, CPU seconds of it and its workers) of one command run with $HARNESS_CACHE = `cache` and
    the harness of `code`; exits on failure."""
    t0, cpu0 = time.perf_counter(), _children_cpu()
    env = dict(ENV, HARNESS_CACHE=str(cache), PYTHONPATH=str(code))
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} failed: {(done.stderr or done.stdout).strip()[-600:]}")
    return time.perf_counter() - t0, _children_cpu() - cpu0


def evaluate(paths: list[Path], config: Path, cache: Path, board: Path, jobs: int = 1, code: Path = ROOT) -> tuple[float, float]:
    board.unlink(missing_ok=True)
    return timed([str(BIN / "harness"), "evaluate", *map(str, paths), "--config", str(config), "--leaderboard", str(board),
                  "--jobs", str(jobs)], cache, code=code)


def best(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The fastest wall time and the least CPU time of a few runs."""
    return min(w for w, _ in runs), min(c for _, c in runs)


def scaled_competition(base: Path, target: Path, n_test: int) -> Path:
    """A copy of `base` (hard links) whose held-out split is its test images cycled to `n_test`."""
    data = target / "data"
    for part in ("train", "val"):
        shutil.copytree(base / "data" / part, data / part, copy_function=os.link)
    with (base / "data" / "answers.csv").open(newline="") as f:
        answers = list(csv.DictReader(f))
    (data / "test").mkdir(parents=True)
    rows = []
    for i in range(n_test):
        row = answers[i % len(answers)]
        name = f"{i:05d}{Path(row['image']).suffix}"
        os.link(base / "data" / "test" / row["image"], data / "test" / name)
        rows.append((name, row["label"], row["part"]))
    with (data / "answers.csv").open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([("image", "label", "part"), *rows])
    from harness.data import write_manifest

    write_manifest(data)
    text = (base / "pyproject.toml").read_text().replace('reference = "reference.py"', f'reference = "{base / "reference.py"}"')
    (target / "pyproject.toml").write_text(text.replace("daily_limit = 10", "daily_limit = 1000"))
    return target / "pyproject.toml"


def peak_rss(command: list[str], cache: Path) -> dict[str, float]:
    """Run `command`; the peak RSS (MB, VmHWM) of it and of every python process it starts, by pid."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(ENV, HARNESS_CACHE=str(cache)))
    peaks: dict[int, tuple[str, float]] = {}

    def tree(pid: int) -> list[int]:
        try:
            kids = [int(k) for t in os.listdir(f"/proc/{pid}/task") for k in open(f"/proc/{pid}/task/{t}/children").read().split()]
        except OSError:
            return []
        return [pid] + [p for k in kids for p in tree(k)]

    def watch() -> None:
        while proc.poll() is None:
            for pid in tree(proc.pid):
                try:
                    status = open(f"/proc/{pid}/status").read()
                    cmd = open(f"/proc/{pid}/cmdline").read().replace("\0", " ")
                except OSError:
                    continue
                found = re.search(r"VmHWM:\s+(\d+) kB", status)
                if found and "python" in cmd or pid == proc.pid:
                    peaks[pid] = (cmd[:60], max(peaks.get(pid, ("", 0.0))[1], int(found.group(1)) / 1024 if found else 0.0))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    proc.wait()
    watcher.join()
    if proc.returncode != 0:
        sys.exit(f"evaluate failed: {proc.stderr.read().decode()[-600:]}")
    parent = peaks.pop(proc.pid, ("", 0.0))[1]
    return {"parent": parent, **{f"worker {i + 1}": mb for i, (_, mb) in enumerate(sorted(peaks.values(), key=lambda v: -v[1]))}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=9900, help="source JPEGs (the test-size series scales with it)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--memory", action="store_true", help="also measure peak RSS at 10k test images, 224 px")
    parser.add_argument("--memory-images", type=int, help="test images of the --memory run (default: 10,000 scaled by --images)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--compare", type=Path, help="another checkout of the harness: its init, reference --write and "
                        "cold evaluate run interleaved with this one's, for before/after ratios")
    args = parser.parse_args()
    scale = args.images / 9900
    work = Path(tempfile.mkdtemp(prefix="harness-photo-"))
    t0 = time.perf_counter()
    photos = make_photos(work / "photos", args.images)
    print(f"generated {args.images:,} JPEGs (384x288) in {time.perf_counter() - t0:.1f} s ({work})")

    codes = {"this": ROOT, **({"compared": args.compare.resolve()} if args.compare else {})}
    inits: dict[str, list] = {name: [] for name in codes}
    references: dict[str, list] = {name: [] for name in codes}
    for r in range(args.repeats):  # interleaved: init, reference --write, the compared checkout's, ...
        for name, code in codes.items():
            comp = work / f"comp-{name}{r}"
            inits[name].append(timed([str(BIN / "harness"), "init", str(comp), "--from", str(photos)], work / "cache-init", code=code))
            references[name].append(timed([str(BIN / "harness"), "reference", "--write"], work / f"cache-ref-{name}{r}", comp, code))
    comp = work / "comp-this0"
    config = comp / "pyproject.toml"
    n_test = len(list((comp / "data" / "test").iterdir()))
    per_k = 1000 / args.images
    print(f"best of {args.repeats} interleaved rounds; wall seconds, and in brackets the CPU seconds getrusage reports for "
          "the finished children (processes in a sandbox may be missing)")
    for label, runs in (("init", inits), ("reference --write", references)):
        wall, cpu = best(runs["this"])
        line = f"{label:18s} {wall * per_k:7.2f} s per 1,000 images ({cpu * per_k:.2f} s CPU)"
        if args.compare:
            old_wall, old_cpu = best(runs["compared"])
            line += (f"; {args.compare}: {old_wall * per_k:.2f} s ({old_cpu * per_k:.2f} s CPU)"
                     f" -> {old_wall / wall:.2f}x faster wall, {old_cpu / cpu:.2f}x less CPU")
        print(line)

    submission = make_submission(work / "subs", "mobilenet96", 96)
    peer = [sys.executable, str(ROOT / "benchmarks" / "peer_eval.py"), str(submission), "--config", str(config)]
    runs: dict[str, list] = {"cold": [], "peer, 2 workers": [], "peer, 0 workers": [], "warm": []}
    for r in range(args.repeats):
        cache = work / f"cache-eval{r}"
        runs["cold"].append(evaluate([submission], config, cache, work / "lb.csv"))
        runs["peer, 2 workers"].append(timed(peer + ["--workers", "2"], cache))
        runs["peer, 0 workers"].append(timed(peer + ["--workers", "0"], cache))
        runs["warm"].append(evaluate([submission], config, cache, work / "lb.csv"))
        if args.compare:
            runs.setdefault("cold, compared", []).append(
                evaluate([submission], config, work / f"cache-cmp{r}", work / "lb.csv", code=args.compare.resolve()))
    peer_wall = min(best(runs["peer, 2 workers"])[0], best(runs["peer, 0 workers"])[0])
    peer_cpu = min(best(runs["peer, 2 workers"])[1], best(runs["peer, 0 workers"])[1])
    print(f"\nevaluate of mobilenet_v3_small at 96x96 on {n_test:,} test images:")
    for name, measured in runs.items():
        wall, cpu = best(measured)
        ratio = "" if name.startswith("peer") else f"  -> {wall / peer_wall:.2f}x the faster peer's wall, {cpu / peer_cpu:.2f}x its CPU"
        print(f"  {name:16s} {', '.join(f'{w:6.1f} s' for w, _ in measured)} ({cpu:.1f} s CPU){ratio}")

    print("\ncold evaluate per test image (the same JPEGs, hard links):")
    for n in (1000, 3000, 10000):
        count = max(20, int(n * scale))
        scaled = scaled_competition(comp, work / f"scaled{n}", count)
        wall, cpu = evaluate([submission], scaled, work / f"cache-scaled{n}", work / "lb.csv")
        print(f"  {count:6,} test images  {wall:6.1f} s  {wall / count * 1000:6.2f} ms per image ({cpu / count * 1000:.2f} ms CPU)")

    subs = [make_submission(work / "subs", f"m{size}_{i}", size, seed=i) for size in (64, 96) for i in (0, 1)]
    sequential = [evaluate([s], config, work / "cache-seq", work / "lb.csv") for s in subs]
    parallel = evaluate(subs, config, work / "cache-par", work / "lb.csv", jobs=2)
    seq_wall, seq_cpu = sum(w for w, _ in sequential), sum(c for _, c in sequential)
    print(f"\nevaluate A B C D (64 and 96 px), cold: 4 sequential runs {seq_wall:.1f} s ({seq_cpu:.1f} s CPU), "
          f"--jobs 2 {parallel[0]:.1f} s ({parallel[1]:.1f} s CPU)  -> {seq_wall / parallel[0]:.2f}x the throughput")

    if args.memory:
        count = args.memory_images or max(20, int(10000 * scale))
        scaled = scaled_competition(comp, work / "memory", count)
        big = make_submission(work / "subs", "mobilenet224", 224)
        peaks = peak_rss([str(BIN / "harness"), "evaluate", str(big), "--config", str(scaled), "--leaderboard",
                          str(work / "lb-mem.csv")], work / "cache-mem")
        print(f"\npeak RSS at {count:,} test images, 224 px (float32 tensor {count * 3 * 224 * 224 * 4 / 2**20:,.0f} MB): "
              + ", ".join(f"{k} {v:,.0f} MB" for k, v in peaks.items()))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
