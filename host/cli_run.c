/* cli_run.c - `mighost run SCRIPT.lua [ARGS...]` and `mighost eval CODE`:
 * a plain script as the main task, with the bindings and the engine. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runtime.h"

static const char run_help[] =
    "usage: mighost run [options] SCRIPT.lua [ARGS...]\n"
    "       mighost eval [options] CODE\n"
    "\n"
    "Runs a Lua 5.4 script (or a chunk of code) as a mighost task: AWS calls\n"
    "suspend only the task that makes them, so tasks run concurrently.\n"
    "The script sees its arguments in `arg`. Script errors print file:line\n"
    "and a traceback and exit 4.\n"
    "\n"
    "options:\n"
    "  --dry-run                validate and record writes instead of sending them\n"
    "  --plan FILE              with --dry-run: write the would-be writes (JSON lines)\n";

int cmd_run(int argc, char **argv, int eval)
{
    cli_common common;
    memset(&common, 0, sizeof common);
    int dry_run = 0, first = 0;
    const char *plan = NULL;
    for (int i = 1; i < argc && !first; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(run_help, stdout);
            fputs(cli_common_help, stdout);
            return EXIT_OK;
        }
        if (strcmp(argv[i], "--dry-run") == 0) {
            dry_run = 1;
            continue;
        }
        if (strcmp(argv[i], "--plan") == 0 || strncmp(argv[i], "--plan=", 7) == 0) {
            plan = argv[i][6] == '=' ? argv[i] + 7 : (i + 1 < argc ? argv[++i] : NULL);
            if (!plan) {
                fprintf(stderr, "mighost: --plan needs a file name\n");
                return EXIT_USAGE;
            }
            continue;
        }
        int r = cli_common_option(&common, argc, argv, &i);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "mighost: unknown option %s (see mighost %s --help)\n", argv[i],
                    eval ? "eval" : "run");
            return EXIT_USAGE;
        }
        first = i;
    }
    if (!first) {
        fputs(run_help, stderr);
        return EXIT_USAGE;
    }
    if (plan && !dry_run) {
        fprintf(stderr, "mighost: --plan only makes sense with --dry-run\n");
        return EXIT_USAGE;
    }

    aws_client *aws = NULL;
    if (cli_has_region(&common)) {
        aws = cli_make_client(&common);
        if (!aws) return EXIT_USAGE;
    }
    char *dir = xstrdup(eval ? "." : argv[first]);
    runtime_options ro = {aws, dry_run, plan, eval ? "." : dirname(dir)};
    runtime *rt = runtime_new(&ro);
    int rc = eval ? runtime_run_string(rt, argv[first], "=(eval)")
                  : runtime_run_file(rt, argv[first], argc - first - 1, argv + first + 1);
    runtime_free(rt);
    aws_client_free(aws);
    free(dir);
    fflush(stdout);
    return rc;
}
