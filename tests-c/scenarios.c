/* sesscb differential scenarios: main + dispatch table.
 *
 * Usage: scenarios-<mode> N   (1..40). Trace on stdout, `MODE ...` on stderr,
 * exit 0 iff every CHECK passed. Scenarios are defined in
 * tests-c/scenarios/sNN_*.c as `int scenario_NN(void)`; they are declared weak
 * here so that a missing one reports "not implemented" and fails. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

typedef int (*scenario_fn)(void);

#define S(NN) int scenario_##NN(void) __attribute__((weak));
S(01) S(02) S(03) S(04) S(05) S(06) S(07) S(08) S(09) S(10)
S(11) S(12) S(13) S(14) S(15) S(16) S(17) S(18) S(19) S(20)
S(21) S(22) S(23) S(24) S(25) S(26) S(27) S(28) S(29) S(30)
S(31) S(32) S(33) S(34) S(35) S(36) S(37) S(38) S(39) S(40)
S(41) S(42)
#undef S

#define S(NN) scenario_##NN,
static scenario_fn const table[43] = {
    NULL,
    S(01) S(02) S(03) S(04) S(05) S(06) S(07) S(08) S(09) S(10)
    S(11) S(12) S(13) S(14) S(15) S(16) S(17) S(18) S(19) S(20)
    S(21) S(22) S(23) S(24) S(25) S(26) S(27) S(28) S(29) S(30)
    S(31) S(32) S(33) S(34) S(35) S(36) S(37) S(38) S(39) S(40)
    S(41) S(42)
};
#undef S

int main(int argc, char **argv)
{
    char *end = NULL;
    long n;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s N   (scenario 1..42)\n", argv[0]);
        return 2;
    }
    n = strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || n < 1 || n > 42) {
        fprintf(stderr, "bad scenario number: %s\n", argv[1]);
        return 2;
    }
    h_init();
    h_report_mode();
    ev("scenario %02ld (%s)", n, h_is_111() ? "1.1.1" : "3.x");
    if (table[n] == NULL) {
        ev("scenario %02ld: not implemented", n);
        return 1;
    }
    rc = table[n]();
    h_finish();
    if (rc != 0 || h_failures() != 0) {
        ev("RESULT FAIL (%d failed checks)", h_failures());
        return 1;
    }
    ev("RESULT PASS");
    return 0;
}
