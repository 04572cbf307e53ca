/* main.c - mighost's entry point: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cli.h"

/* Every command: the dispatcher below and `mighost --help` read this one
 * table. A command's options are in its own --help. */
typedef struct command {
    const char *name;
    const char *args;
    const char *summary;
    int lua;  /* run by the Lua runner (cmd_lua), else cmd_call */
} command;

static const command commands[] = {
    {"run", "NAME|FILE [options]", "run a migration (or a plain Lua script)", 1},
    {"list", "", "the packaged migrations", 1},
    {"describe", "NAME|FILE", "a migration's parameters, phases and tables", 1},
    {"check", "FILE", "load and validate a migration (no AWS access)", 1},
    {"status", "[NAME]", "the runs in the state folder: finished or not, how to resume", 1},
    {"history", "[NAME]", "the runs recorded in the history table", 1},
    {"undo", "RUN", "put back what a run changed, from its undo journal", 1},
    {"ctl", "RUN COMMAND", "control a running migration: pause, resume, status, set, stop", 1},
    {"new", "NAME [FILE]", "write a starting migration", 1},
    {"launch", "ecs [options] -- run NAME ...", "start the workers of a shared run (--coordinate) on ECS", 1},
    {"eval", "CODE", "run a chunk of Lua with the AWS bindings", 1},
    {"call", "SERVICE OPERATION [JSON|@FILE|-]", "one signed AWS call, response on stdout", 0},
    {"help", "[COMMAND]", "this list, or a command's options (= COMMAND --help)", 0},
    {"version", "", "the version", 0},
    {NULL, NULL, NULL, 0}
};

static void usage(FILE *f)
{
    fputs("mighost " MIGHOST_VERSION " - a scripting host for AWS data migrations\n\n"
          "usage: mighost COMMAND [options] [arguments]\n\ncommands:\n", f);
    for (const command *c = commands; c->name; c++) {
        char head[64];
        snprintf(head, sizeof head, "%s %s", c->name, c->args);
        fprintf(f, "  %-38s %s\n", head, c->summary);
    }
    fputs("\nRun 'mighost help COMMAND' (or 'mighost COMMAND --help') for a command's options.\n"
          "Exit codes: 0 ok, 1 verification failed, 2 usage or configuration error,\n"
          "3 AWS or network error, 4 script error, 130 interrupted.\n", f);
}

static const command *find_command(const char *name)
{
    for (const command *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0) return c;
    return NULL;
}

static int unknown_command(const char *name)
{
    const char *names[sizeof commands / sizeof *commands];
    size_t n = 0;
    for (const command *c = commands; c->name; c++) names[n++] = c->name;
    names[n] = NULL;
    const char *near = words_closest(name, names);
    buf sh = BUF_INIT;   /* a user value: echoed capped */
    fprintf(stderr, "mighost: unknown command '%s'%s%s%s (see mighost --help)\n",
            buf_shown(&sh, name), near ? ": did you mean " : "", near ? near : "", near ? "?" : "");
    buf_free(&sh);
    return EXIT_USAGE;
}

static int dispatch(int argc, char **argv)
{
    const char *cmd = argv[0];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("mighost %s\n", MIGHOST_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        (strcmp(cmd, "help") == 0 && argc < 2)) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        /* mighost help COMMAND = mighost COMMAND --help */
        if (!find_command(argv[1])) return unknown_command(argv[1]);
        if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "version") == 0) {
            usage(stdout);
            return EXIT_OK;
        }
        char *help_argv[] = {argv[1], "--help", NULL};
        return dispatch(2, help_argv);
    }
    const command *c = find_command(cmd);
    if (!c) return unknown_command(cmd);
    return c->lua ? cmd_lua(argc, argv, cmd) : cmd_call(argc, argv);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    return dispatch(argc - 1, argv + 1);
}
