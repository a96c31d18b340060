/* env_int(), which reads the CUDA tuning variables (SPECDEC_CUDA_FUSED_ROWS, _GEMV_PAIR,
 * _GEMV_PERSISTENT, _ATT_SPLITS): the value within its range, the fallback when unset, and one
 * fatal line (exit 2) for an empty value, a non-number, trailing text or a value out of range. */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv */
#include "test_util.h"

#define VAR "SPECDEC_TEST_ENV_INT"

static void read_var(void *arg) {
    (void)arg;
    env_int(VAR, 0, 16, -1);
}

int main(void) {
    unsetenv(VAR);
    EXPECT(env_int(VAR, 0, 16, -1) == -1, "unset: the fallback");
    const struct { const char *v; int want; } ok[] = {{"0", 0}, {"16", 16}, {"7", 7}};
    for (int i = 0; i < 3; i++) {
        setenv(VAR, ok[i].v, 1);
        EXPECT(env_int(VAR, 0, 16, -1) == ok[i].want, "'%s'", ok[i].v);
    }
    const char *bad[] = {"", "17", "-1", "4x", "x", "99999999999999999999"};
    for (int i = 0; i < 6; i++) {
        setenv(VAR, bad[i], 1);
        char needle[128];
        snprintf(needle, sizeof needle, VAR " is '%s': expected an integer from 0 to 16", bad[i]);
        test_expect_fatal(bad[i], read_var, NULL, needle);
    }
    return test_summary("test_env_int");
}
