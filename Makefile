# lukewarm: every command a person runs, each creating the virtualenv first if needed.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: serve test lint typecheck demo-model evaluate agreement bench bench-warm bench-reference bench-load mutation clean

$(STAMP): requirements.txt requirements-dev.txt policy/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	# pulumi-policy pins protobuf ~=5.29, which onnx (6.31+) rules out: its code runs on
	# protobuf 6 (tests/policy), and `pulumi preview --policy-pack` gives it its own venv.
	$(PY) -m pip install --quiet --no-deps -r policy/requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

## Run the function, API and warmer on this machine (http://127.0.0.1:8080/).
serve: $(STAMP)
	$(PY) -m lukewarm serve $(ARGS)

## Lint (code, and the CI workflows offline), type-check the Pulumi program, run every test.
test: lint typecheck
	$(PY) -m pytest $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/zizmor --offline --quiet .github/workflows
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

typecheck: $(STAMP)
	$(PY) -m mypy

## Train the built-in demo model into function/model (reproducible from the seed).
demo-model: $(STAMP)
	$(PY) -m toolkit.train --seed 0 --out function/model $(ARGS)

## Score a model on 500 held-out scenes.
evaluate: $(STAMP)
	$(PY) -m toolkit.evaluate --count 500 --seed 1000003 $(ARGS)

## Do torch, ONNX fp32 and ONNX int8 caption the 500 held-out scenes alike?
agreement: $(STAMP)
	$(PY) -m toolkit.agreement --count 500 --seed 1000003 $(ARGS)

## Cold start, warm caption latency and peak memory of the demo model per runtime, 1 thread.
bench: $(STAMP)
	$(PY) -m bench.coldstart $(ARGS)

## Sporadic traffic against the local stack, with and without the warmer.
bench-warm: $(STAMP)
	$(PY) -m bench.keepwarm $(ARGS)

## Hostile load on the local stack: concurrent clients, bad and oversized requests, killed instances.
bench-load: $(STAMP)
	$(PY) -m bench.load $(ARGS)

## The original 2022 design against each lukewarm runtime, side by side in one run.
bench-reference: $(STAMP)
	$(PY) -m bench.reference $(ARGS)

## Mutation testing of the handler, image decoding, warmer and settings (about an hour on 2 cores).
mutation: $(STAMP)
	$(PY) -m tests.mutation $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .mutation *.egg-info
