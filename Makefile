# Makefile: the two-command quick start and a few shortcuts over CMake
# presets (CMakePresets.json).  Every target installs what it needs first.
#
#   make demo      install deps + sample packs, build, run the demo
#   make check     install deps, build, run every test
#   make asan      the tests under AddressSanitizer + UBSan, -Werror
#   make tidy      clang-tidy over lib/ tools/ server/ cli/ examples/, zero findings
#                  (scripts/tidy)
#   make bench     build release and run the benchmarks
#   make fuzz      build the libFuzzer targets (clang)
#   make install   install library, headers, pkg-config file, program, man page
#                  (PREFIX=/usr/local, DESTDIR honoured)

PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_FLAGS ?= --output-on-failure -j $(JOBS)

.PHONY: all deps deps-demo build check tidy asan tsan bench fuzz demo install clean

all: build

deps:
	@scripts/install-deps

deps-demo:
	@scripts/install-deps --demo

build: deps
	@cmake --preset release >/dev/null
	@cmake --build build/release -j $(JOBS)

check: build
	@ctest --test-dir build/release $(CTEST_FLAGS)

tidy: build
	@scripts/tidy -j $(JOBS)

asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build build/asan -j $(JOBS)
	@ctest --test-dir build/asan $(CTEST_FLAGS)

tsan: deps
	@cmake --preset tsan >/dev/null
	@cmake --build build/tsan -j $(JOBS)
	@ctest --test-dir build/tsan $(CTEST_FLAGS)

bench: build
	@scripts/install-deps --tools
	@cmake --build build/release --target bench_import bench_search bench_par2 bench_stream bench_patches bench_archive bench_backup
	@build/release/bench/bench_import && build/release/bench/bench_search && build/release/bench/bench_par2 && build/release/bench/bench_stream && build/release/bench/bench_patches && build/release/bench/bench_archive && build/release/bench/bench_backup

fuzz:
	@scripts/install-deps --tools
	@cmake --preset fuzz >/dev/null
	@cmake --build build/fuzz -j $(JOBS)

demo: deps-demo build
	@scripts/demo build/release/cli/shelf

install: build
	@cmake --install build/release --prefix $(PREFIX)

clean:
	@rm -rf build
