# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU wheel of torch that lies on this machine; setup.py keeps a range for GPU users.
TORCH  ?= torch==2.13.0

.PHONY: install demo demo-text test lint format bench slurm-start slurm-stop clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/activate setup.py
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install
	WANDB_MODE=offline $(BIN)/python -m runway_for_ml.demo demo-project

# The text template (docs/text.md): reviews data -> trained tokenizer -> small BERT, offline.
demo-text: install
	test -f demo-text-project/.runway || $(BIN)/runway init demo-text-project --template text
	cd demo-text-project && HF_HUB_OFFLINE=1 WANDB_MODE=offline ../$(BIN)/runway-run reviews

test: install
	# Two nodes (network namespaces) serve the single-node tests too; fall back to one node where namespaces are refused.
	bash scripts/local-slurm.sh start --nodes 2 || bash scripts/local-slurm.sh start \
		|| echo "local SLURM not started; slurm tests will skip (fail under CI=true)"
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 \
		|| echo "chromium not installed; the /ui browser tests will skip (fail under CI=true)"
	WANDB_MODE=offline $(BIN)/ruff check runway_for_ml tests benchmarks
	$(BIN)/lint-imports
	WANDB_MODE=offline $(BIN)/python -m pytest -q

lint:
	$(BIN)/ruff check runway_for_ml tests benchmarks
	$(BIN)/ruff format --check runway_for_ml tests benchmarks

format:
	$(BIN)/ruff format runway_for_ml tests benchmarks
	$(BIN)/ruff check --fix runway_for_ml tests benchmarks

# Every benchmark runs; one whose service is absent (no SLURM cluster, no browser) exits 77 and says
# why; the figures go to benchmarks/results.json and docs/performance.md; missed targets fail at the end.
bench: install
	@missed=""; skipped=""; \
	for b in benchmarks/bench_*.py; do \
		echo "== $$b"; \
		HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline $(BIN)/python $$b; rc=$$?; \
		if [ $$rc -eq 77 ]; then skipped="$$skipped $$b"; echo "-- $$b skipped: its service is absent (line above)"; \
		elif [ $$rc -ne 0 ]; then missed="$$missed $$b"; echo "-- $$b: target missed or failed (exit $$rc)"; fi; \
	done; \
	$(BIN)/python benchmarks/render_performance.py; \
	[ -z "$$skipped" ] || echo "skipped:$$skipped"; \
	if [ -n "$$missed" ]; then echo "targets missed or failed:$$missed"; exit 1; fi; \
	echo "every benchmark that ran met its targets"

slurm-start:
	bash scripts/local-slurm.sh start

slurm-stop:
	bash scripts/local-slurm.sh stop

clean:
	rm -rf $(VENV) demo-project demo-text-project .pytest_cache build *.egg-info
