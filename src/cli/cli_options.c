/* cli_options.c - option tables shared by the parsers and the help texts
 * (so they cannot drift). */
#include "cli.h"

#include <string.h>

void cli_print_options(FILE *f, const cli_option *opts)
{
    for (const cli_option *o = opts; o->name; o++) {
        char head[64];
        snprintf(head, sizeof head, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(f, "  %-24s %s\n", head, o->help);
    }
}

const cli_option *cli_find_option(const cli_option *opts, const char *arg)
{
    for (const cli_option *o = opts; o->name; o++) {
        size_t n = strlen(o->name);
        if (strncmp(arg, o->name, n) == 0 && (arg[n] == '\0' || (arg[n] == '=' && o->arg)))
            return o;
    }
    return NULL;
}
