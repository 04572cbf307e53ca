/* testsupport.h - helpers for mighost's cmocka tests: start and stop the
 * local servers (dynalite, tests/fakeaws), run the mighost binary with a
 * chosen environment, and make plain HTTP calls to the control endpoints.
 *
 * Tests run with the repository root as the working directory (that is
 * what tests/run-tests does). Every function reports failures on stderr.
 */
#ifndef MIGHOST_TESTSUPPORT_H
#define MIGHOST_TESTSUPPORT_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

/* The long-term key pair fakeaws accepts unless told otherwise. */
#define TEST_ACCESS_KEY "AKIDTEST"
#define TEST_SECRET_KEY "test-secret"
#define TEST_REGION "us-east-1"
/* What fakeaws's container-credentials endpoint wants in Authorization. */
#define TEST_CONTAINER_TOKEN "container-token"

typedef struct test_server {
    pid_t pid;      /* 0 when not running */
    int port;
    char url[64];   /* "http://127.0.0.1:PORT" */
} test_server;

/* fork+exec argv (argv[0] looked up in PATH) and wait up to 20 s for its
 * first stdout line, "LISTENING <port>". The child's stderr is inherited
 * and it gets SIGTERM if the test process dies. Returns 0, or -1. */
int test_server_start(test_server *s, const char *const argv[]);

/* SIGTERM, wait up to 5 s, then SIGKILL. Safe on a stopped server. */
void test_server_stop(test_server *s);

/* The node binary: $MIGHOST_NODE, else "node" (looked up in PATH). */
const char *test_node_path(void);

/* node tests/dynalite/start.js (fails with a hint to run `make deps` when
 * tests/dynalite/node_modules is missing). */
int test_dynalite_start(test_server *s);

/* node tests/fakeaws/server.js extra_args... (extra_args may be NULL). */
int test_fakeaws_start(test_server *s, const char *const extra_args[]);

/* node tests/fakeaws/outage.js --upstream URL: a TCP proxy in front of
 * upstream that test_outage_begin() stops (connections cut, port closed)
 * and test_outage_end() starts again on the same port. */
int test_outage_start(test_server *s, const char *upstream_url);
void test_outage_begin(const test_server *s);
void test_outage_end(const test_server *s);

/* fakeaws in front of a dynalite: starts both (dynalite first) with
 * --upstream set; extra_args as above. On failure nothing is left running. */
int test_fakeaws_with_dynalite(test_server *fake, test_server *dyn,
                               const char *const extra_args[]);

/* A cmocka group setup for the tests that need a temporary folder and a
 * dynalite with fakeaws in front of it: *tmp = test_tempdir(), then
 * test_fakeaws_with_dynalite(fake, dyn, extra_args). Returns 0, or -1. */
int test_group_setup(char **tmp, test_server *dyn, test_server *fake,
                     const char *const extra_args[]);

/* Its teardown: stops fake and dyn, removes the folder and frees *tmp. */
void test_group_teardown(char **tmp, test_server *dyn, test_server *fake);

typedef struct test_run_options {
    const char *const *env_set;   /* "NAME=value" entries added or overriding; NULL-terminated or NULL */
    const char *const *env_unset; /* names removed from the environment; NULL-terminated or NULL */
    const char *stdin_text;       /* fed to stdin, then closed; NULL = /dev/null */
    const char *cwd;              /* working directory of the child; NULL = ours */
    int timeout_ms;               /* SIGKILL after this long; 0 = 300 s */
} test_run_options;

/* Runs argv (argv[0] looked up in PATH), capturing stdout and stderr fully:
 * out and err are replaced by them (either may be NULL to discard). Returns
 * the exit status, 128+signal if it was killed, or -1 if it could not be
 * started (exec failures in the child show as 127 with a message in err). */
int test_run_opts(const char *const argv[], const test_run_options *opt,
                  buf *out, buf *err);

/* The same with the common options. */
int test_run(const char *const argv[], const char *const env_set[],
             const char *const env_unset[], const char *stdin_text,
             buf *out, buf *err);

/* The environment every test's mighost gets: fakeaws's key pair, region
 * us-east-1, IMDS off (NULL-terminated "NAME=value" list). */
extern const char *const test_fake_aws_env[];

/* mighost ARGS... (NULL-terminated) with test_fake_aws_env, the developer's
 * AWS settings removed, and --endpoint-url ENDPOINT appended when endpoint
 * is not NULL. Same conventions as test_run. */
int test_mighost(const char *endpoint, const char *const *args, buf *out, buf *err);

/* The same with env_set in place of test_fake_aws_env (e.g. test_fake_aws_env
 * plus a fake clock, or no credentials at all for an offline run); the
 * developer's AWS settings are still removed. */
int test_mighost_env(const char *endpoint, const char *const *env_set, const char *const *args,
                     buf *out, buf *err);

/* Starts mighost ARGS... in the background as test_mighost runs it (same
 * environment, --endpoint-url ENDPOINT appended when endpoint is not NULL),
 * with stdin, stdout and stderr on /dev/null. bin is the program to run;
 * NULL = test_mighost_path(). Returns the child's pid (the caller signals
 * and waitpid()s it), or -1 if it could not be started (exec failures
 * included; the reason is printed). */
pid_t test_spawn_mighost(const char *bin, const char *endpoint, const char *const *args);

/* As test_spawn_mighost, with stderr written to errfile (stdin and stdout
 * left as they are). Returns the pid, or -1 if fork failed. */
pid_t test_spawn_mighost_logged(const char *endpoint, const char *const *args, const char *errfile);

/* For a child the caller forked itself (e.g. with forkpty): replaces the
 * process with mighost ARGS... run as test_spawn_mighost runs it, leaving
 * its file descriptors as they are. Never returns (_exit(127) on failure). */
_Noreturn void test_exec_mighost(const char *bin, const char *endpoint, const char *const *args);

/* Runs mighost ARGS... as test_mighost does, in a pseudo-terminal, typing
 * answer at the first "Proceed? [y/N]" ("\x03" is Ctrl-C). Returns the
 * exit status; out gets the terminal's text. */
int test_mighost_in_pty(const char *endpoint, const char *const *args, const char *answer,
                        buf *out);

/* $MIGHOST_BIN, else "build/mighost". */
const char *test_mighost_path(void);

/* Runs the mighost binary with args (args[0] is the first argument, not the
 * program name; NULL-terminated). Same conventions as test_run. */
int test_run_mighost(const char *const args[], const char *const env_set[],
                     const char *const env_unset[], const char *stdin_text,
                     buf *out, buf *err);

/* Names to pass as env_unset (NULL-terminated) so the developer's own AWS
 * settings cannot leak into a test: every AWS_* variable that selects
 * credentials, region, endpoints or config files, and the proxy variables
 * (libcurl would send 127.0.0.1 traffic through a proxy). Tests then set
 * what they need, and point HOME at a temporary directory. */
extern const char *const test_aws_env_unset[];

/* Plain HTTP with libcurl (no signing, no proxy). body may be NULL (no
 * body). Returns the HTTP status, or -1 on a transport error. response, if
 * not NULL, is replaced by the response body. */
int test_http(const char *method, const char *url, const char *body, buf *response);

/* The same with extra request headers ("Name: value", NULL-terminated or
 * NULL) and the response headers (raw header lines) in resp_headers. */
int test_http_ex(const char *method, const char *url, const char *const headers[],
                 const char *body, buf *response, buf *resp_headers);

/* Value of a response header from test_http_ex's resp_headers, as a heap
 * string, or NULL. Name is matched case-insensitively; the last one wins. */
char *test_header_value(const buf *resp_headers, const char *name);

/* A number from fakeaws's GET /__stats, by dotted path, e.g.
 * "signature_failures", "faults.throttle", "by_target.DynamoDB_20120810.PutItem"
 * (keys that contain dots are matched whole). A missing key reads as 0
 * (counters start absent); -1 if the server could not be asked. */
long test_fakeaws_stat(const test_server *s, const char *dotted_path);

/* POST /__reset (stats and recorded requests). Returns 0 or -1. */
int test_fakeaws_reset(const test_server *s);

/* POST /__config with a JSON object, e.g. "{\"fault_next\":[\"500\"]}".
 * Returns 0, or -1 (the server's error is printed). */
int test_fakeaws_config(const test_server *s, const char *json);

/* Sets fakeaws's CloudFormation stacks from a fixture file (the `stacks`
 * object of tests/fakeaws/README.md), every "${prefix}" in it replaced by
 * prefix. Returns 0 or -1. */
int test_fakeaws_stacks(const test_server *s, const char *path, const char *prefix);

/* GET path (e.g. "/__requests"); out (may be NULL) is replaced by the
 * body. Returns the HTTP status or -1. */
int test_fakeaws_get(const test_server *s, const char *path, buf *out);

/* mkdtemp under $TMPDIR (or /tmp): a heap string the caller frees, NULL on
 * failure. test_rmtree removes a tree (does not follow symlinks). */
char *test_tempdir(void);
void test_rmtree(const char *dir);

/* Whole-file helpers. Return 0 or -1. */
int test_write_file(const char *path, const char *content);
int test_read_file(const char *path, buf *out);

/* Heap string "dir/name". */
char *test_path_join(const char *dir, const char *name);

/* Writes the arguments of base then those of extra (both NULL-terminated;
 * either may be NULL) into args, which has room for cap entries, and a
 * NULL after them. Returns how many there are, or -1 when they and the
 * NULL do not fit (then args holds no more than cap entries). */
int test_args_join(const char **args, size_t cap, const char *const *base,
                   const char *const *extra);

/* Waits (up to 120 s) until a state file (*.json) exists in dir: a run has
 * started and saved a first checkpoint. Returns 0, or -1 after the wait. */
int test_wait_for_state(const char *dir);

/* Number of newline characters in s. */
size_t test_count_lines(const char *s);

/* qsort comparator for an array of strings (char *), in strcmp order. */
int test_cmp_strings(const void *a, const void *b);

/* node tests/s3rver/start.js DIR (objects kept under dir), with the
 * OpenSSL legacy provider its listings need. */
int test_s3rver_start(test_server *s, const char *dir);

/* node tests/cognito-local/start.js DIR (user pools kept under dir). */
int test_cognito_local_start(test_server *s, const char *dir);

#endif
