/* The metrics of one generation as JSON, with DESIGN.md's names and definitions. Shared by
 * `specdec generate --json` and the results lines of `specdec run`. */
#ifndef SPECDEC_METRICS_JSON_H
#define SPECDEC_METRICS_JSON_H

#include <cjson/cJSON.h>

#include "generate.h"

/* gamma: the fixed gamma (for predicted_speedup), or 0 when no drafter ran. */
cJSON *metrics_to_json(const GenResult *r, int gamma);
/* A number, or null when x is NAN/inf. */
cJSON *json_number_or_null(double x);

#endif
