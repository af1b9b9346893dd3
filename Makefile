# phasegen: the two commands of the quick start, and a few more.
#   make demo   install what is missing, build (Release), run the main job on built-in defaults:
#               train and sample the CPU-sized muon-decay model of the paper
#   make test   same set-up, then the whole test suite through ctest (C++, command line, Python)
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
# The CPU card (cards/muon-langevin-cpu.toml) writes here too.
DEMO_DIR = out/demo
PHASEGEN = $(BUILD_DIR)/apps/phasegen

.PHONY: all deps configure build build-cli demo test bench install clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS) > $(BUILD_DIR).configure.log 2>&1 \
	  || { cat $(BUILD_DIR).configure.log; exit 1; }

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# The command-line tool alone (what the demo needs; tests and benchmarks are built by `make test`).
build-cli: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target phasegen_cli

# The main job: muon-decay data, the CPU-sized Langevin model of the paper trained on it,
# 20k sampled events (and the path of 2000 of them), their evaluation against an independent truth
# set beside the truth floor, and the HTML report.
demo: build-cli
	@mkdir -p $(DEMO_DIR)
	$(PHASEGEN) data --card cards/muon-langevin-cpu.toml
	$(PHASEGEN) train --card cards/muon-langevin-cpu.toml
	$(PHASEGEN) sample --checkpoint $(DEMO_DIR)/muon-langevin.ckpt --events 20000 --seed 3 \
	  --out $(DEMO_DIR)/muon-samples.pt --out $(DEMO_DIR)/muon-samples.hepmc3 \
	  --trajectory-every 50 --trajectory-out $(DEMO_DIR)/muon-trajectory.pt --trajectory-events 2000
	$(PHASEGEN) eval --truth $(DEMO_DIR)/muon-test.pt --samples $(DEMO_DIR)/muon-samples.pt --label "Langevin (paper)" \
	  --checkpoint $(DEMO_DIR)/muon-langevin.ckpt --trajectory $(DEMO_DIR)/muon-trajectory.pt --out $(DEMO_DIR)/eval
	$(PHASEGEN) report --out $(DEMO_DIR)/eval --title "phasegen demo: muon decay, the paper's Langevin model (CPU size)"
	@echo
	@echo "report: $(DEMO_DIR)/eval/report.html"
	@grep '^headline' $(DEMO_DIR)/eval/eval.txt

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) --timeout 600

bench: build
	$(BUILD_DIR)/bench/bench_phasespace --benchmark_counters_tabular=true
	$(BUILD_DIR)/bench/bench_targets --benchmark_counters_tabular=true

# The library, the command-line tool and the Python package (into Python's own directory under the
# prefix, docs/PYTHON.md): make install PREFIX=/opt/phasegen (default: CMake's, /usr/local).
PREFIX ?=
install: build
	cmake --install $(BUILD_DIR) $(if $(PREFIX),--prefix $(PREFIX))

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log out
