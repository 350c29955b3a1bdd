# Developer targets. CI runs `make ci` (bash .ci/run), which pins the
# linters' versions; lint, long and fuzz run the same steps as CI.

FUZZTIME ?= 30s

.PHONY: test race lint long fuzz bench ci

test:
	go test ./...

race:
	go test -race ./...

lint:
	bash .ci/run lint

# natsbridge's cluster and fault tests with about ten times the events
# (-fxbus.long), as CI runs them after the short ones.
long:
	bash .ci/run long

# Every fuzz target of the module, one after the other, FUZZTIME each:
#   make fuzz FUZZTIME=5m
fuzz:
	FUZZTIME=$(FUZZTIME) bash .ci/run fuzz

# Benchmarks, six runs each, saved to bench.txt and summarised by benchstat
# when it is installed (go install golang.org/x/perf/cmd/benchstat@latest).
# fxbus beside raw channels and its peers is the benchmarks module, run from
# benchmarks/ as its README.md says; benchmarks/ab.sh BASE compares commits.
bench:
	bash -o pipefail -c "go test -run '^$$' -bench . -benchmem -count 6 ./... | tee bench.txt"
	@if command -v benchstat >/dev/null 2>&1; then benchstat bench.txt; else echo "benchstat not installed: skipping the summary"; fi

ci:
	bash .ci/run
