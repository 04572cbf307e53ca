/* main.c - mighost's entry point: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "mighost " MIGHOST_VERSION " - a scripting host for AWS data migrations\n"
    "\n"
    "usage: mighost COMMAND [options] [arguments]\n"
    "\n"
    "commands:\n"
    "  call SERVICE OPERATION [JSON|@FILE|-]   one signed AWS call, response on stdout\n"
    "\n"
    "Run 'mighost COMMAND --help' for a command's options.\n"
    "Exit codes: 0 ok, 1 verification failed, 2 usage or configuration error,\n"
    "3 AWS or network error, 4 script error, 130 interrupted.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("mighost %s\n", MIGHOST_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "call") == 0) return cmd_call(argc - 1, argv + 1);
    static const char *const lua_cmds[] = {"run", "eval", "list", "describe", "check", "new",
                                           NULL};
    for (const char *const *c = lua_cmds; *c; c++)
        if (strcmp(cmd, *c) == 0) return cmd_lua(argc - 1, argv + 1, cmd);
    buf sh = BUF_INIT;
    fprintf(stderr, "mighost: unknown command '%s' (see mighost --help)\n", buf_shown(&sh, cmd));
    buf_free(&sh);
    return EXIT_USAGE;
}
