"""Resources are per evaluation: a uid of its own per worker, written space counted with
memory, a capped INPUT_SIZE, no nested user namespaces (hostile submissions, real workers)."""
import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT
from harness.config import load_config
from harness.errors import HarnessError
from harness.evaluate import evaluate_submission
from harness.leaderboard import read_entries
from harness.sandbox import PROCESS_BUDGET, bwrap_available, userns_door
from harness.uids import held_uids

needs_root_sandbox = pytest.mark.skipif(not bwrap_available() or os.geteuid() != 0,
                                        reason="needs bubblewrap and root (workers switch uids only under root)")
HOLD_S = 45
STARVER = f"""
import os, time
INPUT_SIZE = (28, 28)
started = 0
while started < 100_000:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os.execv("/bin/sleep", ["sleep", "600"])
    started += 1
time.sleep({HOLD_S})  # holds every process its uid may have while the other team is evaluated
raise RuntimeError(f"starver held {{started}} processes")
"""


def _tasks_by_uid(first: int, count: int) -> dict[int, int]:
    tasks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uid = os.stat(f"/proc/{entry}").st_uid
                if first <= uid < first + count:
                    tasks[uid] = tasks.get(uid, 0) + len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                continue
    return tasks


def test_uids_are_never_shared_by_threads_or_processes(tmp_path):
    uid_range = (923_000, 3)
    with held_uids(uid_range, 2) as mine:
        assert len(set(mine)) == 2 and all(923_000 <= u < 923_003 for u in mine)
        other = subprocess.run(
            [sys.executable, "-c", "from harness.uids import held_uids\n"
             "with held_uids((923000, 3), 1) as got: print(got[0])\n"
             "with held_uids((923000, 3), 2, wait_s=0.5) as got: print(got)"],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
        free = int(other.stdout.split()[0])
        assert free not in mine and "no free worker uid in worker_uids = [923000, 3]" in other.stderr
        with pytest.raises(HarnessError, match="widen the range"):
            with held_uids(uid_range, 2, wait_s=0.3):
                pass
    with held_uids(uid_range, 3, wait_s=0.3) as everything:  # released when the block ended
        assert sorted(everything) == [923_000, 923_001, 923_002]


@pytest.mark.slow
@needs_root_sandbox
def test_a_process_limit_starver_does_not_starve_another_team(tmp_path, write_config):
    cfg = load_config(write_config(timeout_s=300))
    starver = tmp_path / "starver.py"
    starver.write_text(STARVER)
    failures = []

    def starve():
        try:
            evaluate_submission(starver, cfg, tmp_path / "starver.csv")
        except HarnessError as e:
            failures.append(e)

    thread = threading.Thread(target=starve)
    thread.start()
    first, count = cfg.limits.worker_uids
    deadline = time.monotonic() + 240
    while max(_tasks_by_uid(first, count).values(), default=0) < PROCESS_BUDGET - 8:
        assert time.monotonic() < deadline and thread.is_alive(), "the starver never reached its process limit"
        time.sleep(0.5)
    honest = evaluate_submission(ROOT / "submissions" / "team4.py", cfg, tmp_path / "honest.csv")
    assert honest.entry.scored and honest.entry.public_score == pytest.approx(0.134, abs=0.001)
    thread.join()
    assert failures and "starver held" in failures[0].message
    assert int(failures[0].message.split("held ")[1].split()[0]) <= PROCESS_BUDGET


def _filler(tmp_path, name: str, folder: str) -> os.PathLike:
    path = tmp_path / f"{name}.py"
    path.write_text(
        (ROOT / "submissions" / "team4.py").read_text().replace('TEAM = "team4"', f'TEAM = "{name}"')
        + f"\nimport os\nfolder = {folder}\nblock = b'x' * 2**24\n"
        "for i in range(128):  # 2 GiB, in 16 MiB files\n"
        "    try:\n"
        "        with open(os.path.join(folder, f'fill{i}'), 'wb') as f:\n"
        "            f.write(block)\n"
        "    except OSError:\n"
        "        break  # the tmpfs is full: go on and hope to be scored\n")
    (tmp_path / f"{name}.pt").write_bytes((ROOT / "submissions" / "team4.pt").read_bytes())
    return path


@pytest.mark.slow
@needs_root_sandbox
@pytest.mark.parametrize("folder", ["'/tmp'", "os.getcwd()"], ids=["tmpfs", "output-folder"])
def test_a_disk_filler_fails_as_out_of_memory(tmp_path, invoke, write_config, folder):
    lb = tmp_path / "lb.csv"
    result = invoke("evaluate", _filler(tmp_path, "filler", folder), "--leaderboard", lb, "--config", write_config(memory_mb=1200))
    assert result.exit_code != 0 and "memory limit of 1200 MB (memory and the files it wrote together)" in result.output
    (row,) = read_entries(lb)
    assert row.status == "failed" and row.failure == "out_of_memory" and row.public_score is None


@pytest.mark.slow
def test_a_huge_input_size_is_refused_before_preprocessing(tmp_path, invoke, twin_of_team4):
    huge = twin_of_team4("huge", "INPUT_SIZE = (4096, 4096)\n")
    cache = os.environ["HARNESS_CACHE"]
    before = set(os.listdir(cache))
    result = invoke("evaluate", huge, "--leaderboard", tmp_path / "lb.csv")
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code != 0 and len(errors) == 1 and "max_input_size = 512" in errors[0] and "(4096, 4096)" in errors[0]
    assert not [name for name in set(os.listdir(cache)) - before if "4096" in name]
    assert read_entries(tmp_path / "lb.csv")[0].failure == "invalid_output"


@pytest.mark.slow
@pytest.mark.skipif(userns_door() is None, reason="this bubblewrap or kernel cannot disable nested user namespaces")
def test_no_nested_user_namespace_inside_the_worker(tmp_path, invoke):
    probe = tmp_path / "nested.py"
    probe.write_text(
        "import subprocess\nINPUT_SIZE = (28, 28)\n"
        "done = subprocess.run(['unshare', '-Urm', 'true'], capture_output=True, text=True)\n"
        "raise RuntimeError(f'unshare exit {done.returncode}: {done.stderr.strip()}')\n")
    result = invoke("evaluate", probe, "--leaderboard", tmp_path / "lb.csv")
    assert "unshare exit" in result.output and "unshare exit 0" not in result.output, result.output


SLOW_TRANSFORM = """
import albumentations as A


def transform(input_size):  # only allowed (geometric) transforms, hostile work: Lanczos to 8000 x 8000 and back, twice
    return A.Compose([A.Resize(8000, 8000, interpolation=4), A.Resize(*input_size, interpolation=4),
                      A.Resize(8000, 8000, interpolation=4), A.Resize(*input_size, interpolation=4),
                      A.Normalize(mean=(0.1307,) * 3, std=(0.3081,) * 3, max_pixel_value=255.0)])
"""


@pytest.mark.slow
def test_a_slow_transform_stops_at_the_time_limit_outside_the_parent(tmp_path, twin_of_team4, write_config):
    import resource

    cfg = load_config(write_config(timeout_s=40))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(HarnessError, match="transform ran past the time limit of 40 s"):
        evaluate_submission(twin_of_team4("blur", SLOW_TRANSFORM), cfg, tmp_path / "lb.csv")
    assert time.monotonic() - started < 40 + 60  # the worker's start-up, then at most the limit
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 150 * 1024  # KiB: no 8000 x 8000 image here
    (row,) = read_entries(tmp_path / "lb.csv")
    assert row.failure == "timeout" and row.public_score is None


def test_memory_held_in_a_memfd_counts_against_the_limit():
    """memfd_create memory is not resident set size: the limit adds memory-backed files a worker holds open."""
    import subprocess
    import sys

    from harness.sandbox import tree_rss_bytes

    code = ("import os, time\nfd = os.memfd_create('hold')\nblock = b'\\1' * (1 << 20)\n"
            "for _ in range(200): os.write(fd, block)\nprint('held', flush=True)\ntime.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"held"
        assert tree_rss_bytes(proc.pid) >= 200 * 2**20
    finally:
        proc.kill()
        proc.wait()
