# Two commands for a newcomer: `make demo` and `make test`.
GO ?= go
BIN := bin/nfstream

.PHONY: all build demo test vet fmt-check bench fuzz fuzz-short setup setup-test clean

all: build

setup:
	@scripts/setup.sh build

setup-test:
	@scripts/setup.sh test

build: setup
	$(GO) build -o $(BIN) ./cmd/nfstream

# Runs the main job on the capture the project ships: prints its flows.
demo: build
	$(BIN) --statistical-analysis testdata/demo.pcap

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet: setup
	$(GO) vet ./...

# The whole suite, with the race detector. The conformance tests read the
# shared corpus from $$NFSTREAM_SHARED (default ../shared); REQUIRE_SHARED=1
# makes its absence an error instead of a skip.
test: setup-test fmt-check vet
	$(GO) test -race -count=1 ./...
	cd internal/parquetcheck && $(GO) vet ./... && $(GO) test -count=1 ./...
	CGO_ENABLED=0 $(GO) build ./...
	$(GO) build -tags nondpi ./...

# Every fuzz target for FUZZTIME (default 60s) each; see scripts/fuzz.sh.
fuzz: setup
	scripts/fuzz.sh $(FUZZTIME)

# The short fuzz run of CI: 10 s per target.
fuzz-short: setup
	scripts/fuzz.sh 10s

# Benchmarks against the 40-replica capture and the peers, then each
# stage's Go benchmarks (bench/RESULTS.md, docs/performance.md).
bench: build
	bench/run.sh
	bench/stages.sh

clean:
	rm -rf bin
