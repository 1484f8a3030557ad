# `make test`: everything that proves sesscb, on a fresh Debian 12 machine.
# Prerequisites (Debian packages, the 1.1.1w build, the library) first, then
# each suite as its own target so it can also be run alone.
TEST_SUITES ?= lint exports-check header-check install-check unit-test test-c test-c-asan tsan tsan-111 test-host interop bench-guard

.PHONY: test
test: deps lib openssl111 openssl-lines
	@scripts/run-tests.sh $(TEST_SUITES)
