#!/usr/bin/env bash
# The test command: every unit, snapshot and end-to-end test. End-to-end tests need root;
# without it they say that they were skipped.
set -euo pipefail
cd "$(dirname "$0")"
cargo test --workspace --locked -- --test-threads=2
