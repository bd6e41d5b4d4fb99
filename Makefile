# mediatasks — the two commands a new user needs are `make up` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup up test test-unit protos chart-sync check-protos lint bench chaos clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

## setup: create .venv with the pinned dependency set and the project (editable)
setup: $(BIN)/python
	bash deploy/scripts/system-deps.sh
	$(BIN)/pip install --quiet -r deploy/requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check

## up: set up, then start the whole stack on embedded servers and run a demo job
up: setup
	$(BIN)/mediatasks up --demo

## test: set up, then run every test (unit, integration, end to end)
test: setup
	$(BIN)/pytest -q -p no:cacheprovider -ra

test-unit:
	$(BIN)/pytest -q tests/unit

## protos: generated code, the descriptor set and the OpenAPI document, all from protos/
protos:
	$(BIN)/python deploy/scripts/gen_protos.py
	$(BIN)/python deploy/scripts/gen_openapi.py
	$(MAKE) chart-sync

## chart-sync: refresh the gateway files the Helm chart ships (tests fail while they differ)
chart-sync:
	rm -rf charts/mediatasks/files/gateway && cp -r gateway charts/mediatasks/files/gateway

## check-protos: fail when regenerating the committed code changes anything
check-protos: protos
	git diff --exit-code -- services/mediatasks/v1 gateway/mediatasks.pb gateway/openapi.json charts/mediatasks/files/gateway

## lint: ruff (lint and format) over everything, mypy over hand-written code ([tool.mypy])
lint:
	$(BIN)/ruff check services tests deploy
	$(BIN)/ruff format --check services tests deploy
	$(BIN)/mypy services/mediatasks deploy/scripts

## bench: submit latency, end-to-end throughput and CPU per job of every process, as JSON.
## Options through BENCH_ARGS, e.g. make bench BENCH_ARGS="--peers" (Celery and Dramatiq with
## Redis beside it) or BENCH_ARGS="--at-scale" (GetTask, ListTasks, /statistics at 1,000,000 tasks).
BENCH_ARGS ?=
bench: setup
	$(BIN)/python -m mediatasks.bench $(BENCH_ARGS)

## bench-media: WER and real-time factor of offline speech to text, Whisper beside PocketSphinx, on synthetic
## speech; then 1 GiB transfers through Envoy (MB/s, memory of each process) and a caption job with its
## upload and download against the same ffmpeg work run directly (JSON each)
.PHONY: bench-media
bench-media: setup
	$(BIN)/python -m mediatasks.bench_media
	$(BIN)/python -m mediatasks.bench_transfers

## chaos: 2,000 jobs while workers, a registry, NATS and PostgreSQL fail; the stale-attempt scenario; 2,000 jobs on a three-node NATS cluster while a node and the meta leader are SIGKILLed and a node is partitioned (JSON)
chaos: setup
	$(BIN)/python -m mediatasks.chaos
	$(BIN)/python -m mediatasks.chaos --scenario stale --jobs 12 --workers 2 --worker-concurrency 4 --rate 10
	$(BIN)/python -m mediatasks.chaos --scenario cluster --fault-interval 10

clean:
	rm -rf $(VENV) .state
