/* exit.h - the exit codes users rely on (README, docs/running.md).
 *
 * Defined once here; the Lua side reads them as mighost.EXIT (bindings/core.c),
 * so no script or runner module writes a bare number. */
#ifndef MIGHOST_EXIT_H
#define MIGHOST_EXIT_H

enum {
    EXIT_OK = 0,
    EXIT_VERIFY_FAILED = 1,   /* the run finished but something is not done */
    EXIT_USAGE = 2,           /* bad command line, config or refusal */
    EXIT_AWS = 3,             /* AWS could not be reached or refused */
    EXIT_SCRIPT = 4,          /* a script error */
    EXIT_INTERRUPTED = 130    /* Ctrl-C or stop: state saved */
};

#endif
