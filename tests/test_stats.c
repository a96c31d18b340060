/* Confidence intervals: Student t quantiles against published tables (Abramowitz & Stegun,
 * table 26.10; NIST/SEMATECH e-Handbook 1.3.6.7.2), and mean_ci95 on a worked example. */
#include <math.h>
#include <stdio.h>

#include "stats.h"
#include "test_util.h"

static void expect_close(const char *what, double got, double want, double tol) {
    EXPECT(fabs(got - want) <= tol, "%s: got %.9f, want %.9f (tol %g)", what, got, want, tol);
}

int main(void) {
    static const struct { int df; double t; } table[] = {
        {1, 12.706205}, {2, 4.302653}, {3, 3.182446}, {4, 2.776445}, {5, 2.570582}, {10, 2.228139},
        {20, 2.085963}, {30, 2.042272}, {60, 2.000298}, {100, 1.983972}, {1000, 1.962339},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "t_0.975 df=%d", table[i].df);
        expect_close(what, student_t_quantile_975(table[i].df), table[i].t, 1e-6);
    }
    /* large df tends to the normal quantile 1.959964 */
    expect_close("t_0.975 df=1e6", student_t_quantile_975(1000000), 1.959966, 1e-5);
    /* the tail itself: P(T > 2.228139 | df 10) = 0.025; P(T > 0) = 0.5 */
    expect_close("tail df=10", student_t_upper_tail(2.228139, 10), 0.025, 1e-7);
    expect_close("tail at 0", student_t_upper_tail(0.0, 7), 0.5, 1e-12);

    /* 1..5: mean 3, s = sqrt(2.5), half-width t_{0.975,4} * s / sqrt(5) = 1.963243 */
    double x[] = {1, 2, NAN, 3, 4, 5};
    MeanCI m = mean_ci95(x, 6);
    EXPECT(m.n == 5, "n = %d, want 5 (NaN skipped)", m.n);
    expect_close("mean", m.mean, 3.0, 1e-12);
    expect_close("half width", m.half_width, 2.776445 * sqrt(2.5) / sqrt(5.0), 1e-6);
    MeanCI one = mean_ci95(x, 1);
    EXPECT(one.n == 1 && one.mean == 1.0 && isnan(one.half_width), "one value: n %d mean %g half %g (want no interval)",
           one.n, one.mean, one.half_width);
    MeanCI none = mean_ci95(x + 2, 1);
    EXPECT(none.n == 0 && isnan(none.mean), "no values: mean %g", none.mean);

    return test_summary("test_stats");
}
