/* testservers.c - the npm test servers besides dynalite: s3rver (S3) and
 * cognito-local (Cognito user pools), each pinned by its lock file. */
#include "testsupport.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int installed(const char *path, const char *what)
{
    if (access(path, R_OK) == 0) return 1;
    fprintf(stderr, "%s: %s is missing: run `make deps` (installs the pinned test servers with npm)\n",
            what, path);
    return 0;
}

int test_s3rver_start(test_server *s, const char *dir)
{
    memset(s, 0, sizeof *s);
    if (!installed("tests/s3rver/node_modules/s3rver/package.json", "test_s3rver_start")) return -1;
    const char *argv[] = {test_node_path(), "--openssl-legacy-provider", "tests/s3rver/start.js", dir,
                          NULL};
    return test_server_start(s, argv);
}

int test_cognito_local_start(test_server *s, const char *dir)
{
    memset(s, 0, sizeof *s);
    if (!installed("tests/cognito-local/node_modules/cognito-local/package.json",
                   "test_cognito_local_start"))
        return -1;
    const char *argv[] = {test_node_path(), "tests/cognito-local/start.js", dir, NULL};
    return test_server_start(s, argv);
}
