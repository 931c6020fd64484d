# The two commands (see README.md):
#   make run    install dependencies, build Release, run weft's main job on the default model
#   make test   install dependencies, build, run every test (unit, CLI, sanitizers, fuzzers)
# Other targets: build, chat, check (Release tests only), asan, tsan, tsan-threads, fuzz, clean.

SHELL := /bin/bash
# The default model: a small instruct model from the hub when it answers, else the best
# local one (scripts/default-model.sh); evaluated once.
ifeq ($(origin MODEL), undefined)
MODEL := $(shell scripts/default-model.sh)
endif
FUZZ_SECONDS ?= 30
WEFT := build/release/bin/weft

.PHONY: all deps build run chat test check asan tsan tsan-threads fuzz clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release

PROMPT ?= Once upon a time
SEED ?= 42
PORT ?= 8080
# TinyLLama-v0 has no chat template of its own: `make run` serves it and `make chat`
# chats with it through this one (the hub's default model brings its own).
CHAT_TEMPLATE ?= ../shared/models/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja
TEMPLATE_FLAGS := $(if $(filter tinyllama-v0,$(MODEL)),--chat-template $(CHAT_TEMPLATE))

# The main job: describe the model, tell a story, then serve it (Ctrl-C stops the server).
run: build
	$(WEFT) info $(MODEL)
	$(WEFT) run $(MODEL) -p "$(PROMPT)" -n 120 --seed $(SEED)
	$(WEFT) serve $(MODEL) --port $(PORT) $(TEMPLATE_FLAGS)

chat: build
	$(WEFT) chat $(MODEL) $(TEMPLATE_FLAGS)

check: build
	ctest --preset release

asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan
	ctest --preset asan

tsan: deps
	@cmake --preset tsan >/dev/null
	@cmake --build --preset tsan
	ctest --preset tsan

# ThreadSanitizer on the threads that share state in a running server: the engine thread
# with its clients (engine_test), the expert cache's prefetch thread beside the forward pass
# (expert_cache_test) and weft serve under concurrent and hostile HTTP clients
# (tests/cli/bench_serve.sh with the TSan binary as both server and client;
# tests/hostile/hostile_suite.py --quick); the first race a process meets aborts it.
tsan-threads: deps
	@cmake --preset tsan >/dev/null
	@cmake --build --preset tsan --target weft engine_test expert_cache_test
	TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build/tsan --output-on-failure \
	  -R '^Engine\.|ExpertCacheTest\.|^cli\.bench_serve$$|^hostile\.server$$'

fuzz: deps
	scripts/run-fuzzers.sh $(FUZZ_SECONDS)

test: check asan tsan-threads fuzz
	@echo "make test: all tests passed"

clean:
	rm -rf build
