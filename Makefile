# Quick start: `make demo` and `make test` (each creates .venv on first use).
export NO_ALBUMENTATIONS_UPDATE := 1
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test honest bench bench-smoke zoo-table zoo-formats golden clean-venv

$(VENV)/bin/harness: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -e ".[dev]"
	touch $@

demo: $(VENV)/bin/harness
	$(VENV)/bin/harness data verify
	rm -f /tmp/harness-demo-leaderboard.csv
	$(VENV)/bin/harness evaluate submissions/team4.py --leaderboard /tmp/harness-demo-leaderboard.csv
	$(VENV)/bin/harness leaderboard --leaderboard /tmp/harness-demo-leaderboard.csv

test: $(VENV)/bin/harness
	$(PY) -m pytest -q

# The whole honest corpus: every torchvision classifier that runs at <= 96 px in seconds, both profiles.
honest: $(VENV)/bin/harness
	$(PY) -m pytest -q -m honest tests/test_honest.py

PHOTO_IMAGES ?= 9900  # the photo-scale benchmark's source JPEGs (`make bench PHOTO_IMAGES=990` for a quick look)

# The photo benchmark's own tiny run (about fifteen evaluations), left out of `make test`.
bench-smoke: $(VENV)/bin/harness
	$(PY) -m pytest -q -m bench tests/test_bench_photo.py

bench: $(VENV)/bin/harness
	$(PY) benchmarks/bench_evaluate.py
	$(PY) benchmarks/bench_forecast.py
	$(PY) benchmarks/bench_photo.py --images $(PHOTO_IMAGES) --memory

golden: $(VENV)/bin/harness  # recount tests/golden/ptflops.json with the real ptflops 0.6.4 and 0.7.5
	$(PY) scripts/golden_ptflops.py

clean-venv:
	rm -rf $(VENV)

zoo-table: $(VENV)/bin/harness
	rm -f leaderboard.csv leaderboard.csv.picks.json
	$(PY) baselines/zoo_table.py --leaderboard leaderboard.csv

zoo-formats: $(VENV)/bin/harness  # the zoo under both formats: 2021 and examples/size-budget.toml (temporary boards)
	$(PY) baselines/zoo_table.py --formats
