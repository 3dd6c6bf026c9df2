# The two commands of the README, and the developer targets around them.
#   make demo   installs what is missing, builds, runs several cache instances in sync on a
#               throwaway redis-server (started and stopped by the demo itself)
#   make test   the same set-up, then every test, including those against a real Redis
SHELL := /bin/bash
SWIFT ?= swift

.PHONY: demo test test-optimized deps build release tsan asan fuzz fuzz-smoke benchmarks benchmarks-smoke examples-build examples-run docs perf clean

deps:
	@scripts/install-deps

demo: deps
	$(SWIFT) build -c release --product dcache
	scripts/with-redis-cleanup .build/release/dcache demo

test: deps
	SWIFT=$(SWIFT) scripts/with-redis-cleanup scripts/run-tests

# Tests whose claims hold only for optimized code (a local hit allocates nothing), and the
# hit-ratio bars on the traces in Tests/Traces (too slow unoptimized; a missing trace fails).
test-optimized: deps
	scripts/with-redis-cleanup $(SWIFT) test -c release -Xswiftc -enable-testing --filter 'allocatesNothing|meetsTheBars'

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# ThreadSanitizer over every test. jemalloc is left out: TSan brings its own malloc. One known
# false positive of Swift continuations is suppressed (scripts/tsan.supp says why).
tsan: deps
	DCACHE_NO_JEMALLOC=1 DCACHE_TEST_TIME_SCALE=10 TSAN_OPTIONS="suppressions=$(CURDIR)/scripts/tsan.supp $(TSAN_OPTIONS)" SWIFT=$(SWIFT) scripts/with-redis-cleanup scripts/run-tests --sanitize=thread \
		--scratch-path .build-tsan

# AddressSanitizer, with LeakSanitizer, over every test; jemalloc is left out (ASan brings its own
# malloc). Leaks of the test runner's own objects are suppressed by name (scripts/lsan.supp says
# which and why); none of ours.
asan: deps
	DCACHE_NO_JEMALLOC=1 DCACHE_TEST_TIME_SCALE=4 ASAN_OPTIONS="detect_leaks=1 $(ASAN_OPTIONS)" \
		LSAN_OPTIONS="suppressions=$(CURDIR)/scripts/lsan.supp $(LSAN_OPTIONS)" SWIFT=$(SWIFT) \
		scripts/with-redis-cleanup scripts/run-tests --sanitize=address --scratch-path .build-asan

# libFuzzer targets over every decoder of network bytes (Fuzz/README.md): `fuzz` runs each for
# 1,000,000 inputs, `fuzz-smoke` for 20,000 (CI).
fuzz: deps
	scripts/fuzz

fuzz-smoke: deps
	RUNS=20000 scripts/fuzz

# The benchmark package lives in Benchmarks/ with its own Package.swift (so that users of the
# library never resolve package-benchmark). It is built without jemalloc: package-benchmark counts
# allocations by interposing malloc, and with jemalloc as the process allocator the interposer's
# free crashes (SIGSEGV) and its posix_memalign spins. The library's own allocation tests
# (`make test-optimized`) and perf/ run with jemalloc. `benchmarks-smoke` runs every benchmark
# for two samples (CI does, so the suite cannot rot); `benchmarks` is the full run.
BENCHMARK = cd Benchmarks && DCACHE_NO_JEMALLOC=1 ../scripts/with-redis-cleanup $(SWIFT) package \
	--allow-writing-to-package-directory benchmark --no-progress

benchmarks: deps
	$(BENCHMARK)

benchmarks-smoke: deps
	DCACHE_BENCHMARK_SMOKE=1 $(BENCHMARK)

examples-build: deps
	cd Examples && $(SWIFT) build
	scripts/install-deps python3-yaml
	python3 Examples/kubernetes/validate.py

# Runs every example once, each on its own throwaway Redis and bounded in time (about 10 s in all).
examples-run: examples-build
	scripts/install-deps curl
	scripts/with-redis-cleanup scripts/run-examples

# The DocC catalog of DistributedCache (Sources/DistributedCache/DistributedCache.docc), as a
# static site in .build/docs; CI builds it so that the articles and symbol links stay valid.
docs: deps
	$(SWIFT) package --allow-writing-to-directory .build/docs generate-documentation --target DistributedCache \
		--output-path .build/docs --transform-for-static-hosting --warnings-as-errors

perf: deps
	perf/report

clean:
	rm -rf .build .build-* Benchmarks/.build Examples/.build
