/* sesscb differential scenarios: main and the scenario table.
 *
 * Usage: scenarios-<mode> N | sNN_name | --list
 *   N or sNN_name  runs one scenario: trace on stdout, `MODE ...` on stderr,
 *                  exit 0 iff every CHECK passed.
 *   --list         prints every scenario's name (its file name), one a line.
 *
 * A scenario is a file tests-c/scenarios/sNN_name.c defining
 * `int scenario_NN(void)`. mk/tests-c.mk writes one SCENARIO(NN, sNN_name)
 * line per such file into scenario_table.h, so adding the file is all it
 * takes; a file without its function fails to link. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define SCENARIO(NN, name) int scenario_##NN(void);
#include "scenario_table.h"
#undef SCENARIO

struct scenario {
    const char *name; /* file name without .c: "s21_get_copy_zero" */
    int (*run)(void);
};

#define SCENARIO(NN, name) {#name, scenario_##NN},
static const struct scenario scenarios[] = {
#include "scenario_table.h"
};
#undef SCENARIO

#define SCENARIO_COUNT (sizeof(scenarios) / sizeof(scenarios[0]))

/* The number is the two digits after the leading 's' of the name. */
static long scenario_number(const struct scenario *s)
{
    return strtol(s->name + 1, NULL, 10);
}

static void list_scenarios(void)
{
    for (size_t i = 0; i < SCENARIO_COUNT; i++)
        printf("%s\n", scenarios[i].name);
}

/* `arg` is a scenario number ("21") or a full name ("s21_get_copy_zero"). */
static const struct scenario *find_scenario(const char *arg)
{
    char *end = NULL;
    long n = strtol(arg, &end, 10);
    int by_number = end != arg && *end == '\0';

    for (size_t i = 0; i < SCENARIO_COUNT; i++) {
        const struct scenario *s = &scenarios[i];
        if (by_number ? scenario_number(s) == n : strcmp(s->name, arg) == 0)
            return s;
    }
    return NULL;
}

static int run_scenario(const struct scenario *s)
{
    long n = scenario_number(s);
    int rc;

    h_init();
    h_report_mode();
    ev("scenario %02ld (%s)", n, h_is_111() ? "1.1.1" : "3.x");
    rc = s->run();
    h_finish();
    if (rc != 0 || h_failures() != 0) {
        ev("RESULT FAIL (%d failed checks)", h_failures());
        return 1;
    }
    ev("RESULT PASS");
    return 0;
}

int main(int argc, char **argv)
{
    const struct scenario *s;

    if (argc != 2) {
        fprintf(stderr, "usage: %s N | sNN_name | --list\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "--list") == 0) {
        list_scenarios();
        return 0;
    }
    s = find_scenario(argv[1]);
    if (s == NULL) {
        fprintf(stderr, "no such scenario: %s (--list shows them)\n", argv[1]);
        return 2;
    }
    return run_scenario(s);
}
