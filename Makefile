# Thin wrapper over meson/ninja. `make run` and `make test` are the README's
# quick start; both install what is missing first. docs/hacking.md says
# what `make test` runs and how to fuzz for longer (`make fuzz`).
BUILD ?= build
# gcc with ASan+UBSan: unit and integration tests against a sanitized agent
SAN_BUILD ?= build-san
# clang with libFuzzer, ASan and UBSan: the fuzz targets
FUZZ_BUILD ?= build-fuzz
MESON_OPTS ?=
SANITIZE_OPTS = -Db_sanitize=address,undefined -Db_lundef=false
# make fuzz: seconds per target, and which targets (default: all), e.g.
# make fuzz FUZZ=unwind FUZZ_SECONDS=600
FUZZ_SECONDS ?= 600
FUZZ ?=

.PHONY: all build deps deps-test run test fuzz clean

all: build

deps:
	@sh scripts/install-deps.sh

deps-test:
	@sh scripts/install-deps.sh --test

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

$(SAN_BUILD)/build.ninja:
	meson setup $(SAN_BUILD) $(SANITIZE_OPTS) $(MESON_OPTS)

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) $(SANITIZE_OPTS) -Dfuzzing=true $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD)

# only the agent (tests and fuzzers are for make test)
run: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD) agent/brasa
	$(BUILD)/agent/brasa run --http-address 127.0.0.1:7071

# FUZZ_SECONDS here is run-suite's (5), not make fuzz's
test: deps-test $(BUILD)/build.ninja $(SAN_BUILD)/build.ninja $(FUZZ_BUILD)/build.ninja
	@FUZZ_SECONDS=5 sh tests/tools/run-suite.sh $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD)

# every target (or FUZZ's) for FUZZ_SECONDS, two at a time, each from the
# corpus kept in $(FUZZ_BUILD)/fuzz/NAME/corpus by earlier runs
fuzz: deps-test $(FUZZ_BUILD)/build.ninja
	@ninja -C $(FUZZ_BUILD) fuzzers
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_KEEP_CORPUS=1 meson test -C $(FUZZ_BUILD) \
		--no-rebuild --verbose --timeout-multiplier 0 --num-processes 2 \
		$(if $(FUZZ),$(addprefix fuzz-,$(FUZZ)),--suite fuzz)

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD)
