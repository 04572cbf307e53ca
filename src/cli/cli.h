/* cli.h - the subcommands and the options they share. */
#ifndef MIGHOST_CLI_H
#define MIGHOST_CLI_H

#include <stdio.h>

#include "aws.h"
#include "exit.h"
#include "words.h"

/* One option of a command: its name, its value's placeholder (NULL for a
 * flag) and one line of help. Tables end with a {NULL} entry; the parser
 * matches against the same table the help prints. */
typedef struct cli_option {
    const char *name;
    const char *arg;
    const char *help;
} cli_option;

void cli_print_options(FILE *f, const cli_option *opts);
/* The entry argv matches ("--name" or "--name=value"), or NULL. */
const cli_option *cli_find_option(const cli_option *opts, const char *arg);

/* Options every command that talks to AWS accepts. */
typedef struct cli_common {
    const char *region;
    const char *profile;
    const char *endpoint_url;
    const char *service_endpoints[16];  /* --endpoint-url SERVICE=URL */
    int nservice_endpoints;
    int max_in_flight;
    int segments;        /* --segments N: for the runner's scans */
    int max_attempts;
    long timeout_ms;
    int credential_process_timeout;  /* seconds, 0: default */
    long max_outage;     /* --max-outage SECONDS, 0: the default */
} cli_common;

/* If argv[*i] is a common option, consume it (and its value) and return 1;
 * 0 if it is not one; -1 (after printing why) if its value is missing or bad. */
int cli_common_option(cli_common *o, int argc, char **argv, int *i);
extern const cli_option cli_common_options[];

/* Build a client from the common options: region resolved, endpoints
 * checked. Returns NULL after printing an error (exit code 2). */
aws_client *cli_make_client(const cli_common *o);

/* 1 if a region (or an endpoint override) is configured, so AWS can be reached. */
int cli_has_region(const cli_common *o);

int cmd_call(int argc, char **argv);
int cmd_lua(int argc, char **argv, const char *cmd);

#endif
