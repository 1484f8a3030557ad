#!/usr/bin/env bash
# `make test`: runs every suite in turn (each is its own make target), keeps
# going after a failure so one run shows everything that is wrong, and ends
# with one summary line. Exit status is non-zero if any suite failed.
set -uo pipefail
cd "$(dirname "$0")/.."

MAKE=${MAKE:-make}
suites=("$@")
passed=0
failed=0
failed_names=()
start_all=$(date +%s)
for suite in "${suites[@]}"; do
    echo
    echo "=============== $suite"
    start=$(date +%s)
    if "$MAKE" --no-print-directory "$suite"; then
        passed=$((passed + 1))
        echo "=============== $suite: passed ($(( $(date +%s) - start )) s)"
    else
        failed=$((failed + 1))
        failed_names+=("$suite")
        echo "=============== $suite: FAILED ($(( $(date +%s) - start )) s)"
    fi
done
echo
echo "make test took $(( $(date +%s) - start_all )) s; suites: ${suites[*]}"
[ "$failed" -gt 0 ] && echo "failed suites: ${failed_names[*]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
