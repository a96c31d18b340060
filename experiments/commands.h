/* The `specdec` subcommands; argv[0] is the subcommand's name. Each returns the exit status. */
#ifndef SPECDEC_COMMANDS_H
#define SPECDEC_COMMANDS_H

int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_synth(int argc, char **argv);

#endif
