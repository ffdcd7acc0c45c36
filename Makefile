# Thin wrapper over meson/ninja. `make run` and `make test` are the README's
# quick start; both install what is missing first.
BUILD ?= build
MESON_OPTS ?=

.PHONY: all build deps deps-test run test clean

all: build

deps:
	@sh scripts/install-deps.sh

deps-test:
	@sh scripts/install-deps.sh --test

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD)

run: build
	$(BUILD)/agent/brasa run --http-address 127.0.0.1:7071

test: deps-test $(BUILD)/build.ninja
	@ninja -C $(BUILD)
	@sh tests/run-suite.sh $(BUILD)

clean:
	rm -rf $(BUILD)
