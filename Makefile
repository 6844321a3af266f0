# The two commands of the README: `make run` and `make test`. Both install what is missing first.
.PHONY: setup build run test test-release fuzz-build fuzz bench format clean

JOBS ?= $(shell nproc)

setup:
	@bash scripts/setup.sh

build: setup
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

# The server on its embedded defaults (UDP and TCP 5060, data in ./data), with a demo user whose
# password it prints.
run: build
	./build/release/sipwarden serve --demo-user

# Every test, under AddressSanitizer + UndefinedBehaviorSanitizer; the fuzz targets are compiled
# with clang too, so that they keep building.
test: setup
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	ctest --preset asan

test-release: setup
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)
	ctest --preset release

fuzz-build: setup
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)

# Run one fuzzer: make fuzz TARGET=fuzz_message SECONDS=600
TARGET ?= fuzz_message
SECONDS ?= 60
fuzz: fuzz-build
	@mkdir -p build/fuzz/corpus-$(TARGET)
	./build/fuzz/$(TARGET) -max_total_time=$(SECONDS) -print_final_stats=1 \
	  build/fuzz/corpus-$(TARGET) tests/fuzz/corpus/$(subst fuzz_,,$(TARGET))

bench: setup
	@cmake --preset bench >/dev/null
	@cmake --build --preset bench -j $(JOBS)
	./build/bench/parser_bench

format:
	@git ls-files "*.cpp" "*.hpp" | xargs clang-format -i --style=file

clean:
	rm -rf build
