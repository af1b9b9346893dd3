# phasegen: the two commands of the quick start, and a few more.
#   make demo   install what is missing, build (Release), run the main job on built-in defaults
#   make test   same set-up, then the whole test suite through ctest
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
DEMO_DIR ?= out/demo
PHASEGEN = $(BUILD_DIR)/apps/phasegen

.PHONY: all deps configure build demo test bench clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS) > $(BUILD_DIR).configure.log 2>&1 \
	  || { cat $(BUILD_DIR).configure.log; exit 1; }

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	@mkdir -p $(DEMO_DIR)
	$(PHASEGEN) phasespace --out $(DEMO_DIR)/uniform.hepmc3 --out $(DEMO_DIR)/uniform.pt

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) --timeout 600

bench: build
	$(BUILD_DIR)/bench/bench_phasespace --benchmark_counters_tabular=true
	$(BUILD_DIR)/bench/bench_targets --benchmark_counters_tabular=true

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log out
