#!/usr/bin/env bash
# A/B: the benchmarks of this directory against fxbus at another commit, in
# one run.
#
#   benchmarks/ab.sh BASE [test binary flags...]
#
# builds this directory's benchmarks twice, once against the repository's
# working tree (head, uncommitted changes included) and once against BASE
# (a commit, branch or tag, checked out in a temporary worktree), then runs
# the two binaries in turn, COUNT rounds of base then head, so that both
# see the same machine, and compares them with benchstat. Only the fxbus
# rows can differ between the two: the other rows are a check on the noise.
#
# Environment: BENCH, the -test.bench pattern (default '.'); COUNT, the
# rounds (default 6); OUT, where base.txt and head.txt go (default this
# directory). Flags after BASE go to both binaries, e.g.
#
#   BENCH='Channels|Handlers' COUNT=10 benchmarks/ab.sh main -test.benchtime=2s
set -euo pipefail

if [[ $# -lt 1 || $1 == -* ]]; then
	echo "usage: $0 BASE [test binary flags...]" >&2
	exit 2
fi
base_rev=$1
shift

BENCH=${BENCH:-.}
COUNT=${COUNT:-6}
bench_dir=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$bench_dir}
repo=$(git -C "$bench_dir" rev-parse --show-toplevel)
base=$(git -C "$repo" rev-parse --verify --quiet "$base_rev^{commit}") ||
	{ echo "$0: $base_rev is not a commit" >&2; exit 2; }

tmp=$(mktemp -d)
cleanup() {
	if [[ -d $tmp/base ]]; then
		git -C "$repo" worktree remove --force "$tmp/base" || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that the EXIT trap cleans up

git -C "$repo" worktree add --quiet --detach "$tmp/base" "$base"

# The base binary is built from this directory's code with a copy of its
# go.mod whose replace points fxbus at the base worktree; -mod=mod lets go
# complete that copy (and its go.sum) if BASE's own requirements differ.
cp "$bench_dir/go.mod" "$tmp/base.mod"
cp "$bench_dir/go.sum" "$tmp/base.sum"
go mod edit -replace "github.com/fxbus/fxbus=$tmp/base" "$tmp/base.mod"
(
	cd "$bench_dir"
	go test -c -o "$tmp/base.test" -modfile "$tmp/base.mod" -mod=mod .
	go test -c -o "$tmp/head.test" .
)

head=$(git -C "$repo" rev-parse --short HEAD)
if [[ -n $(git -C "$repo" status --porcelain) ]]; then
	head="$head plus the working tree's changes"
fi
echo "base: $(git -C "$repo" rev-parse --short "$base") ($base_rev)"
echo "head: $head"

mkdir -p "$OUT"
: >"$OUT/base.txt"
: >"$OUT/head.txt"
for ((i = 1; i <= COUNT; i++)); do
	echo "round $i of $COUNT" >&2
	for side in base head; do
		# Run in the package's directory, as go test does.
		(cd "$bench_dir" && "$tmp/$side.test" -test.run '^$' -test.bench "$BENCH" \
			-test.benchmem -test.count 1 "$@") >>"$OUT/$side.txt"
	done
done

echo "results: $OUT/base.txt $OUT/head.txt"
benchstat=$(command -v benchstat || echo "$(go env GOPATH)/bin/benchstat")
if [[ -x $benchstat ]]; then
	(cd "$OUT" && "$benchstat" base.txt head.txt)
else
	echo "benchstat is not installed: go install golang.org/x/perf/cmd/benchstat@latest"
fi
