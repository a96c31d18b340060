/* specdec: the command-line entry point. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "commands.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} Command;

static const Command COMMANDS[] = {
    {"generate", cmd_generate, "generate text with a target: autoregressive, speculative or beam search"},
    {"tokenize", cmd_tokenize, "text on stdin to ids (or ids to text with --decode)"},
    {"run", cmd_run, "run an experiment grid from a JSON config into a results file"},
    {"plot", cmd_plot, "regenerate every figure of a results file with gnuplot"},
    {"merge", cmd_merge, "join the results files of --shard runs"},
    {"bench", cmd_bench, "decode latency, bandwidth, verification cost T(k)/T(1), draft cost ratio"},
    {"synth", cmd_synth, "write a random-weight checkpoint of a real model shape"},
};

int main(int argc, char **argv) {
    int n = (int)(sizeof COMMANDS / sizeof COMMANDS[0]);
    if (argc >= 2)
        for (int i = 0; i < n; i++)
            if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "--help") && strcmp(argv[1], "-h"))
        fatal("unknown command '%s' (run specdec --help)", argv[1]);
    printf("usage: specdec COMMAND [options]\n\ncommands:\n");
    for (int i = 0; i < n; i++) printf("  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].help);
    printf("\nmodels are looked for under $SPECDEC_MODELS (default: ../shared/models)\n");
    return argc >= 2 ? 0 : 2;
}
