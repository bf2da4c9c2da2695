# lukewarm: every command a person runs, each creating the virtualenv first if needed.
# `make help` lists them. PYTHON=python3.12 make ... picks another interpreter for the venv.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --quiet
# torch's CPU-only wheels. Where this index cannot be reached, make says so and pip takes the
# same pins from its usual index (or a local wheel): `TORCH_INDEX= make ...` skips it.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
ARGS ?=
# pip's flag for TORCH_INDEX if the index answers within 5 s: asking an unreachable index for
# each of torch's packages would cost minutes of retries.
TORCH_INDEX_FLAG = $$(timeout 5 $(PY) -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1])" \
	$(TORCH_INDEX) 2>/dev/null && echo --extra-index-url $(TORCH_INDEX) \
	|| echo "torch: $(if $(TORCH_INDEX),$(TORCH_INDEX) did not answer; )from pip's usual index" >&2)

# Three installs, each a superset of the one before: what `make serve` needs (no torch),
# the torch toolkit, and the test tools.
SERVE_STAMP := $(VENV)/.installed-serve
TOOLKIT_STAMP := $(VENV)/.installed-toolkit
STAMP := $(VENV)/.installed

.PHONY: help serve preview toolkit test lint typecheck demo-model evaluate agreement bench bench-warm bench-reference bench-hf bench-load mutation clean

## List the commands.
help:
	@awk '/^## /{doc=(doc ? doc " " : "") substr($$0, 4); next} /^[a-z-]+:/{if (doc) printf "  make %-16s %s\n", substr($$1, 1, length($$1)-1), doc} {doc=""}' $(MAKEFILE_LIST)

$(SERVE_STAMP): requirements.txt requirements-serve.txt function/requirements-onnx.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip "setuptools>=70.1"  # the editable install builds with it (bdist_wheel)
	$(PIP) install -r requirements-serve.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $@

$(TOOLKIT_STAMP): $(SERVE_STAMP) requirements-toolkit.txt
	$(PIP) install $(TORCH_INDEX_FLAG) \
		$$(grep -E '^torch(vision)?==' requirements-toolkit.txt)
	$(PIP) install -r requirements-toolkit.txt
	touch $@

$(STAMP): $(TOOLKIT_STAMP) requirements-dev.txt policy/requirements.txt
	$(PIP) install -r requirements-dev.txt
	# pulumi-policy pins protobuf ~=5.29, which onnx (6.31+) rules out: its code runs on
	# protobuf 6 (tests/policy), and `pulumi preview --policy-pack` gives it its own venv.
	$(PIP) install --no-deps -r policy/requirements.txt
	touch $@

## Install the torch toolkit (train, evaluate, convert, export, import; the torch runtime).
toolkit: $(TOOLKIT_STAMP)

## Run the function, API and warmer on this machine (http://127.0.0.1:8080/).
serve: $(SERVE_STAMP)
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

## What `pulumi up` would create, offline (ARGS="--stack NAME" for a stack's config).
preview: $(SERVE_STAMP)
	$(PY) -m lukewarm preview $(ARGS)

## Train the built-in demo model into function/model (reproducible from the seed).
demo-model: $(STAMP)
	$(PY) -m toolkit.train --seed 0 --out function/model $(ARGS)

## Score a model on 500 held-out scenes.
evaluate: $(STAMP)
	$(PY) -m toolkit.evaluate --count 500 --seed 1000003 $(ARGS)

## Do torch, ONNX fp32 and ONNX int8 caption the 500 held-out scenes alike?
agreement: $(STAMP)
	$(PY) -m toolkit.agreement --count 500 --seed 1000003 $(ARGS)

## Cold start, warm caption latency and peak memory of the demo model per variant (onnx, onnx-int8, torch), 1 thread.
bench: $(STAMP)
	$(PY) -m bench.coldstart $(ARGS)

## Sporadic traffic against the local stack, with and without the warmer.
bench-warm: $(STAMP)
	$(PY) -m bench.keepwarm $(ARGS)

## Hostile load on the local stack: concurrent clients, bad and oversized requests, killed instances.
bench-load: $(STAMP)
	$(PY) -m bench.load $(ARGS)

## The original 2022 design against each lukewarm variant, side by side in one run.
bench-reference: $(STAMP)
	$(PY) -m bench.reference $(ARGS)

## Imported Hub captioners (ViT-GPT2, BLIP; full-size random weights) on lukewarm onnx and
## int8 against transformers' pipeline on CPU-only torch, side by side in one run.
bench-hf: $(STAMP)
	$(PY) -m bench.hf $(ARGS)

## Mutation testing of the handler, the beam search, the Hub backend, image decoding, the warmer
## and settings, per module (about four hours on 2 cores for all).
mutation: $(STAMP)
	$(PY) -m tests.mutation $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .mutation *.egg-info
