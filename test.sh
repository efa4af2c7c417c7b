#!/usr/bin/env bash
# The test command. First bpftrace's own runtime cases (the conformance suite) against the
# release build, failing if a case on the passing list fails; then every unit, snapshot and
# end-to-end test. Both need root for what touches the kernel; without it they say what they
# skipped. The last line sums up cargo's tests.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --locked
if [ "$(id -u)" = 0 ]; then
  tests/conformance/run --check-passing tests/conformance/passing.txt
else
  echo "skipped (needs root): the bpftrace conformance suite"
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked -- --test-threads=2 2>&1 | tee "$log"
awk '/^test result:/ { p += $4; f += $6; s += $8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' \
  FS='[ ;]+' "$log"
