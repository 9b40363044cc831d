#!/bin/bash
# Instructions per Check of one bench-check stage, counted by callgrind: a figure that does
# not move with the VM's speed, for comparing a change against its parent.
#
#   scripts/check-instructions.sh [STAGE] [N]
#
# STAGE: pipeline (default), audited (with the decision log's spool), decode, protobuf, eval,
# encode. Runs the stage N and 2N times (default N=1000) and prints the difference / N, so
# start-up and policy loading cancel out. Hashing is made deterministic so that dictionary
# probes do not vary between runs. Under valgrind OpenSSL cannot use the CPU's SHA
# instructions, so the identity stage's SHA-256 counts about 13k instructions that take
# well under a microsecond natively.
set -euo pipefail
stage=${1:-pipeline}
n=${2:-1000}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.build/release/bench-check"
[ -x "$bin" ] || { echo "build first: make build (or swift build -c release --static-swift-stdlib --product bench-check)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# valgrind 3.19 cannot read the DWARF that Swift emits; the symbol table is enough.
objcopy --strip-debug "$bin" "$work/bench-check"
count() {
    SWIFT_DETERMINISTIC_HASHING=1 valgrind --tool=callgrind --callgrind-out-file="$work/cg.$1" \
        "$work/bench-check" "$root/policies" "$1" profile "$stage" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
one=$(count "$n")
two=$(count $((2 * n)))
echo "$stage: $(( (two - one) / n )) instructions per Check"
