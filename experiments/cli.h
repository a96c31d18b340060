/* Command-line value parsing: every bad value is one fatal() line naming the flag. */
#ifndef SPECDEC_CLI_H
#define SPECDEC_CLI_H

/* The value after flag argv[*i]; fatal() when it is missing. Advances *i. */
const char *cli_value(int argc, char **argv, int *i);
long cli_int(const char *flag, const char *v, long lo, long hi);
double cli_float(const char *flag, const char *v, double lo, double hi);
/* "1,2,3" -> malloc'd ids; fatal() on anything else. */
int cli_int_list(const char *flag, const char *v, int **out);

#endif
