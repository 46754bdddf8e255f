# Two commands do everything on a fresh Debian/Ubuntu machine: `make demo` and `make test`.
# Each one creates/updates the virtual environment (.venv) when pyproject.toml or this file changed,
# installs the system packages the project needs (as root; otherwise prints the command), then runs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.advconf-installed
# Fashion-MNIST (real data for tests), FFCV's build dependencies, and a local SLURM test cluster.
SYSTEM_PACKAGES := dataset-fashion-mnist libturbojpeg0-dev libopencv-dev pkg-config slurm-wlm munge
PYTEST_ARGS ?= -n 2

.PHONY: demo test bench system-packages venv clean-demo

demo: venv
	$(BIN)/advconf fit --config configs/spheres.yaml
	$(BIN)/advconf test --config configs/spheres.yaml --ckpt_path checkpoints/spheres/ckpt/last.ckpt \
		--attack fgsm --attack pgd
	@echo "Results, plots and checkpoints: checkpoints/spheres/ (results/ holds the JSON, CSV and PNG files)"

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: venv
	$(BIN)/python -m benchmarks

venv: system-packages $(STAMP)

system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "note: not a Debian/Ubuntu machine; install the equivalents of: $$missing"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "installing system packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
		echo "note: some features need system packages; run: sudo apt-get install -y $$missing"; \
	fi

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,mnist-sample]'
	@if pkg-config --exists libturbojpeg opencv4 2>/dev/null; then \
		$(BIN)/python -m pip install -q -e '.[dev,mnist-sample,ffcv]'; \
	else \
		echo "note: FFCV not installed (needs: apt-get install libturbojpeg0-dev libopencv-dev pkg-config)"; \
	fi
	touch $(STAMP)

clean-demo:
	rm -rf checkpoints/spheres
