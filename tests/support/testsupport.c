/* testsupport.c - local servers, child processes and plain HTTP for tests. */
#include "testsupport.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

extern char **environ;

#define START_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 5000
/* A guard against a hung run, not a timing: a 50k-item resume on a machine
 * at load 15+ took over 5 minutes. */
#define RUN_TIMEOUT_MS 900000

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

const char *test_node_path(void)
{
    const char *node = getenv("MIGHOST_NODE");
    return node && *node ? node : "node";
}

/* In a freshly forked child: default SIGPIPE (ours may be ignored, and
 * ignored dispositions survive exec) and stdin from fd or /dev/null. */
static void child_setup_stdin(int fd)
{
    signal(SIGPIPE, SIG_DFL);
    if (fd < 0) fd = open("/dev/null", O_RDONLY);
    if (fd >= 0 && fd != STDIN_FILENO) dup2(fd, STDIN_FILENO);
}

/* ------------------------------------------------------------- servers */

int test_server_start(test_server *s, const char *const argv[])
{
    memset(s, 0, sizeof *s);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        fprintf(stderr, "test_server_start: pipe: %s\n", strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "test_server_start: fork: %s\n", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        /* Die with the test process, even if it crashes mid-test. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(1);
        child_setup_stdin(-1);
        dup2(fds[1], STDOUT_FILENO);
        execvp(argv[0], (char *const *)argv);
        dprintf(STDERR_FILENO, "test_server_start: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);

    /* Read up to the first newline. */
    char line[256];
    size_t len = 0;
    long long deadline = now_ms() + START_TIMEOUT_MS;
    int done = 0;
    while (!done && len < sizeof line - 1) {
        long long left = deadline - now_ms();
        if (left <= 0) break;
        struct pollfd p = {fds[0], POLLIN, 0};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        ssize_t n = read(fds[0], line + len, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (line[len] == '\n') done = 1;
        else len++;
    }
    line[len] = '\0';
    close(fds[0]);

    int port = 0;
    if (!done || sscanf(line, "LISTENING %d", &port) != 1 || port <= 0 || port > 65535) {
        fprintf(stderr, "test_server_start: %s did not report its port within %d s (got \"%s\")\n",
                argv[0], START_TIMEOUT_MS / 1000, line);
        s->pid = pid;
        test_server_stop(s);
        return -1;
    }
    s->pid = pid;
    s->port = port;
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", port);
    return 0;
}

void test_server_stop(test_server *s)
{
    if (s->pid <= 0) return;
    kill(s->pid, SIGTERM);
    long long deadline = now_ms() + STOP_TIMEOUT_MS;
    for (;;) {
        pid_t r = waitpid(s->pid, NULL, WNOHANG);
        if (r == s->pid || (r < 0 && errno != EINTR)) break;
        if (now_ms() >= deadline) {
            kill(s->pid, SIGKILL);
            while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        sleep_ms(10);
    }
    s->pid = 0;
    s->port = 0;
    s->url[0] = '\0';
}

int test_dynalite_start(test_server *s)
{
    memset(s, 0, sizeof *s);
    if (access("tests/dynalite/node_modules/dynalite/index.js", R_OK) != 0) {
        fprintf(stderr, "test_dynalite_start: tests/dynalite/node_modules is missing: "
                        "run `make deps` (installs the pinned dynalite with npm)\n");
        return -1;
    }
    const char *argv[] = {test_node_path(), "tests/dynalite/start.js", NULL};
    return test_server_start(s, argv);
}

int test_fakeaws_start(test_server *s, const char *const extra_args[])
{
    size_t n = 0;
    while (extra_args && extra_args[n]) n++;
    const char **argv = xcalloc(n + 3, sizeof *argv);
    argv[0] = test_node_path();
    argv[1] = "tests/fakeaws/server.js";
    for (size_t i = 0; i < n; i++) argv[i + 2] = extra_args[i];
    int rc = test_server_start(s, argv);
    free(argv);
    return rc;
}

int test_wait_for_state(const char *dir)
{
    for (int i = 0; i < 1200; i++) {
        buf out = BUF_INIT;
        const char *ls[] = {"sh", "-c", "ls \"$0\"/*.json 2>/dev/null", dir, NULL};
        test_run(ls, NULL, NULL, NULL, &out, NULL);
        int found = out.len > 0;
        buf_free(&out);
        if (found) return 0;
        struct timespec t = {0, 100000000L};
        nanosleep(&t, NULL);
    }
    fprintf(stderr, "no state file appeared in %s\n", dir);
    return -1;
}

int test_outage_start(test_server *s, const char *upstream_url)
{
    const char *argv[] = {test_node_path(), "tests/fakeaws/outage.js", "--upstream", upstream_url,
                          NULL};
    return test_server_start(s, argv);
}

void test_outage_begin(const test_server *s)
{
    if (s->pid > 0) kill(s->pid, SIGUSR1);
}

void test_outage_end(const test_server *s)
{
    if (s->pid > 0) kill(s->pid, SIGUSR2);
}

int test_fakeaws_with_dynalite(test_server *fake, test_server *dyn,
                               const char *const extra_args[])
{
    memset(fake, 0, sizeof *fake);
    if (test_dynalite_start(dyn) != 0) return -1;
    size_t n = 0;
    while (extra_args && extra_args[n]) n++;
    const char **args = xcalloc(n + 3, sizeof *args);
    args[0] = "--upstream";
    args[1] = dyn->url;
    for (size_t i = 0; i < n; i++) args[i + 2] = extra_args[i];
    int rc = test_fakeaws_start(fake, args);
    free(args);
    if (rc != 0) test_server_stop(dyn);
    return rc;
}

int test_group_setup(char **tmp, test_server *dyn, test_server *fake,
                     const char *const extra_args[])
{
    memset(dyn, 0, sizeof *dyn);
    memset(fake, 0, sizeof *fake);
    *tmp = test_tempdir();
    if (!*tmp) return -1;
    return test_fakeaws_with_dynalite(fake, dyn, extra_args);
}

void test_group_teardown(char **tmp, test_server *dyn, test_server *fake)
{
    test_server_stop(fake);
    test_server_stop(dyn);
    if (*tmp) {
        test_rmtree(*tmp);
        free(*tmp);
        *tmp = NULL;
    }
}

/* --------------------------------------------------------- child processes */

static int name_matches(const char *entry, const char *name)
{
    size_t n = strcspn(name, "=");
    return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

/* environ minus env_unset and the names env_set overrides, plus env_set.
 * The array is ours to free; the strings are borrowed. */
static char **build_env(const char *const set[], const char *const unset[])
{
    size_t n = 0, nset = 0;
    while (environ[n]) n++;
    while (set && set[nset]) nset++;
    char **env = xcalloc(n + nset + 1, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int drop = 0;
        for (size_t j = 0; unset && unset[j] && !drop; j++) drop = name_matches(environ[i], unset[j]);
        for (size_t j = 0; j < nset && !drop; j++) drop = name_matches(environ[i], set[j]);
        if (!drop) env[k++] = environ[i];
    }
    for (size_t j = 0; j < nset; j++) env[k++] = (char *)set[j];
    env[k] = NULL;
    return env;
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Reads what is available; returns 0 at EOF or error, 1 if still open. */
static int drain(int fd, buf *into)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n > 0) {
            if (into) buf_append(into, chunk, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 1;
        return 0;
    }
}

static int exit_code(int status)
{
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

int test_run_opts(const char *const argv[], const test_run_options *opt,
                  buf *out, buf *err)
{
    static const test_run_options none = {0};
    if (!opt) opt = &none;
    if (out) buf_reset(out);
    if (err) buf_reset(err);

    int in[2] = {-1, -1}, po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) != 0) return -1;
    if (pipe2(pe, O_CLOEXEC) != 0) {
        close(po[0]);
        close(po[1]);
        return -1;
    }
    if (opt->stdin_text && pipe2(in, O_CLOEXEC) != 0) {
        close(po[0]);
        close(po[1]);
        close(pe[0]);
        close(pe[1]);
        return -1;
    }
    char **env = build_env(opt->env_set, opt->env_unset);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        child_setup_stdin(in[0]);
        dup2(po[1], STDOUT_FILENO);
        dup2(pe[1], STDERR_FILENO);
        if (opt->cwd && chdir(opt->cwd) != 0) {
            dprintf(STDERR_FILENO, "test_run: chdir %s: %s\n", opt->cwd, strerror(errno));
            _exit(127);
        }
        execvpe(argv[0], (char *const *)argv, env);
        dprintf(STDERR_FILENO, "test_run: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free(env);
    close(po[1]);
    close(pe[1]);
    if (in[0] >= 0) close(in[0]);
    if (pid < 0) {
        fprintf(stderr, "test_run: fork: %s\n", strerror(errno));
        close(po[0]);
        close(pe[0]);
        if (in[1] >= 0) close(in[1]);
        return -1;
    }

    /* Writing to a child that stopped reading must not kill us. */
    struct sigaction ign = {0}, old_pipe;
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old_pipe);

    int fo = po[0], fe = pe[0], fi = in[1];
    set_nonblock(fo);
    set_nonblock(fe);
    const char *pending = opt->stdin_text;
    size_t pending_len = pending ? strlen(pending) : 0;
    if (fi >= 0) set_nonblock(fi);

    int timeout = opt->timeout_ms > 0 ? opt->timeout_ms : RUN_TIMEOUT_MS;
    long long deadline = now_ms() + timeout;
    int status = 0;
    for (;;) {
        if (fi >= 0 && pending_len == 0) {
            close(fi);
            fi = -1;
        }
        struct pollfd p[3];
        int np = 0, io = -1, ie = -1, ii = -1;
        if (fo >= 0) io = np, p[np++] = (struct pollfd){fo, POLLIN, 0};
        if (fe >= 0) ie = np, p[np++] = (struct pollfd){fe, POLLIN, 0};
        if (fi >= 0) ii = np, p[np++] = (struct pollfd){fi, POLLOUT, 0};
        /* Wake up now and then: the child may exit while a grandchild keeps
         * its pipes open, and we must not wait for that one. */
        if (poll(p, (nfds_t)np, np ? 100 : 5) < 0 && errno != EINTR) break;
        if (io >= 0 && p[io].revents && !drain(fo, out)) {
            close(fo);
            fo = -1;
        }
        if (ie >= 0 && p[ie].revents && !drain(fe, err)) {
            close(fe);
            fe = -1;
        }
        if (ii >= 0 && p[ii].revents) {
            ssize_t n = write(fi, pending, pending_len);
            if (n > 0) {
                pending += n;
                pending_len -= (size_t)n;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                pending_len = 0; /* EPIPE: the child closed its stdin */
            }
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            /* Everything it wrote is in the pipes now. */
            if (fo >= 0) drain(fo, out);
            if (fe >= 0) drain(fe, err);
            break;
        }
        if (now_ms() >= deadline) {
            fprintf(stderr, "test_run: %s still running after %d ms, killing it\n", argv[0], timeout);
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            break;
        }
    }
    if (fo >= 0) close(fo);
    if (fe >= 0) close(fe);
    if (fi >= 0) close(fi);
    sigaction(SIGPIPE, &old_pipe, NULL);
    return exit_code(status);
}

int test_run(const char *const argv[], const char *const env_set[],
             const char *const env_unset[], const char *stdin_text,
             buf *out, buf *err)
{
    test_run_options opt = {env_set, env_unset, stdin_text, NULL, 0};
    return test_run_opts(argv, &opt, out, err);
}

const char *test_mighost_path(void)
{
    const char *bin = getenv("MIGHOST_BIN");
    return bin && *bin ? bin : "build/mighost";
}

int test_run_mighost(const char *const args[], const char *const env_set[],
                     const char *const env_unset[], const char *stdin_text,
                     buf *out, buf *err)
{
    size_t n = 0;
    while (args && args[n]) n++;
    const char **argv = xcalloc(n + 2, sizeof *argv);
    argv[0] = test_mighost_path();
    for (size_t i = 0; i < n; i++) argv[i + 1] = args[i];
    int rc = test_run(argv, env_set, env_unset, stdin_text, out, err);
    free(argv);
    return rc;
}

const char *const test_aws_env_unset[] = {
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_REGION", "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "AWS_EC2_METADATA_V1_DISABLED",
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_ECS",
    "AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
    "AWS_ENDPOINT_URL_CLOUDFORMATION", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_STS_REGIONAL_ENDPOINTS", "AWS_CA_BUNDLE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
    "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy",
    NULL,
};

/* -------------------------------------------------------------------- HTTP */

static size_t collect(char *data, size_t size, size_t n, void *user)
{
    if (user) buf_append(user, data, size * n);
    return size * n;
}

int test_http_ex(const char *method, const char *url, const char *const headers[],
                 const char *body, buf *response, buf *resp_headers)
{
    if (response) buf_reset(response);
    if (resp_headers) buf_reset(resp_headers);
    CURL *c = curl_easy_init();
    if (!c) return -1;
    struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; headers && headers[i]; i++) hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, response);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp_headers);
    if (strcmp(method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    }
    CURLcode rc = curl_easy_perform(c);
    long status = -1;
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else fprintf(stderr, "test_http: %s %s: %s\n", method, url, curl_easy_strerror(rc));
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return (int)status;
}

int test_http(const char *method, const char *url, const char *body, buf *response)
{
    return test_http_ex(method, url, NULL, body, response, NULL);
}

char *test_header_value(const buf *resp_headers, const char *name)
{
    const char *p = buf_str(resp_headers);
    size_t nlen = strlen(name);
    char *found = NULL;
    while (*p) {
        size_t len = strcspn(p, "\r\n");
        if (len > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            const char *end = p + len;
            while (v < end && (*v == ' ' || *v == '\t')) v++;
            while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
            free(found);
            found = xstrndup(v, (size_t)(end - v));
        }
        p += len;
        while (*p == '\r' || *p == '\n') p++;
    }
    return found;
}

/* Follows a dotted path, matching the longest key first at each level so
 * keys with dots ("DynamoDB_20120810.PutItem") work. */
static json_object *json_walk(json_object *o, const char *path)
{
    size_t len = strlen(path);
    for (size_t end = len; end > 0; end--) {
        if (end != len && path[end] != '.') continue;
        char *key = xstrndup(path, end);
        json_object *v = NULL;
        int found = json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v);
        free(key);
        if (!found) continue;
        if (end == len) return v;
        json_object *r = json_walk(v, path + end + 1);
        if (r) return r;
    }
    return NULL;
}

long test_fakeaws_stat(const test_server *s, const char *dotted_path)
{
    buf body = BUF_INIT;
    long value = -1;
    if (test_fakeaws_get(s, "/__stats", &body) == 200) {
        json_object *root = json_tokener_parse(buf_str(&body));
        if (root) {
            json_object *v = json_walk(root, dotted_path);
            value = v ? (long)json_object_get_int64(v) : 0;
            json_object_put(root);
        } else {
            fprintf(stderr, "test_fakeaws_stat: /__stats is not JSON: %s\n", buf_str(&body));
        }
    }
    buf_free(&body);
    return value;
}

static int control_post(const test_server *s, const char *path, const char *json)
{
    char url[128];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    buf resp = BUF_INIT;
    const char *const hdr[] = {"Content-Type: application/json", NULL};
    int status = test_http_ex("POST", url, hdr, json, &resp, NULL);
    if (status != 200) fprintf(stderr, "fakeaws %s: HTTP %d %s\n", path, status, buf_str(&resp));
    buf_free(&resp);
    return status == 200 ? 0 : -1;
}

int test_fakeaws_reset(const test_server *s)
{
    return control_post(s, "/__reset", NULL);
}

int test_fakeaws_config(const test_server *s, const char *json)
{
    return control_post(s, "/__config", json);
}

int test_fakeaws_stacks(const test_server *s, const char *path, const char *prefix)
{
    buf text = BUF_INIT, cfg = BUF_INIT;
    if (test_read_file(path, &text) != 0) {
        fprintf(stderr, "test_fakeaws_stacks: cannot read %s\n", path);
        buf_free(&text);
        return -1;
    }
    static const char mark[] = "${prefix}";
    buf_puts(&cfg, "{\"stacks\": ");
    for (const char *p = buf_str(&text), *m; *p; p = m + sizeof mark - 1) {
        m = strstr(p, mark);
        if (!m) {
            buf_puts(&cfg, p);
            break;
        }
        buf_append(&cfg, p, (size_t)(m - p));
        buf_puts(&cfg, prefix);
    }
    buf_puts(&cfg, "}");
    int rc = test_fakeaws_config(s, buf_str(&cfg));
    buf_free(&text);
    buf_free(&cfg);
    return rc;
}

int test_fakeaws_get(const test_server *s, const char *path, buf *out)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    return test_http("GET", url, NULL, out);
}

/* ------------------------------------------------------------------- files */

char *test_tempdir(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    buf path = BUF_INIT;
    buf_printf(&path, "%s/mighost-test-XXXXXX", base);
    if (!mkdtemp(path.data)) {
        fprintf(stderr, "test_tempdir: mkdtemp %s: %s\n", path.data, strerror(errno));
        buf_free(&path);
        return NULL;
    }
    return buf_detach(&path);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    if (remove(path) != 0) fprintf(stderr, "test_rmtree: %s: %s\n", path, strerror(errno));
    return 0;
}

void test_rmtree(const char *dir)
{
    if (dir && *dir) nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int test_write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "test_write_file: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(content);
    int ok = fwrite(content, 1, len, f) == len;
    if (fclose(f) != 0) ok = 0;
    if (!ok) fprintf(stderr, "test_write_file: %s: write failed\n", path);
    return ok ? 0 : -1;
}

int test_read_file(const char *path, buf *out)
{
    buf_reset(out);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(out, chunk, n);
    int ok = !ferror(f);
    fclose(f);
    return ok ? 0 : -1;
}

char *test_path_join(const char *dir, const char *name)
{
    buf b = BUF_INIT;
    buf_printf(&b, "%s/%s", dir, name);
    return buf_detach(&b);
}

const char *const test_fake_aws_env[] = {
    "AWS_ACCESS_KEY_ID=" TEST_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY=" TEST_SECRET_KEY,
    "AWS_REGION=" TEST_REGION, "AWS_EC2_METADATA_DISABLED=true", NULL};

/* bin (NULL: test_mighost_path()), args, then --endpoint-url endpoint when
 * endpoint is not NULL; NULL-terminated. Free the array (not the strings). */
static const char **mighost_argv(const char *bin, const char *endpoint, const char *const *args)
{
    size_t n = 0;
    while (args && args[n]) n++;
    const char **argv = xcalloc(n + 4, sizeof *argv);
    size_t k = 0;
    argv[k++] = bin ? bin : test_mighost_path();
    for (size_t i = 0; i < n; i++) argv[k++] = args[i];
    if (endpoint) {
        argv[k++] = "--endpoint-url";
        argv[k++] = endpoint;
    }
    argv[k] = NULL;
    return argv;
}

int test_mighost_env(const char *endpoint, const char *const *env_set, const char *const *args,
                     buf *out, buf *err)
{
    const char **argv = mighost_argv(NULL, endpoint, args);
    int rc = test_run(argv, env_set, test_aws_env_unset, NULL, out, err);
    free(argv);
    return rc;
}

int test_mighost(const char *endpoint, const char *const *args, buf *out, buf *err)
{
    return test_mighost_env(endpoint, test_fake_aws_env, args, out, err);
}

_Noreturn void test_exec_mighost(const char *bin, const char *endpoint, const char *const *args)
{
    const char **argv = mighost_argv(bin, endpoint, args);
    char **env = build_env(test_fake_aws_env, test_aws_env_unset);
    execvpe(argv[0], (char *const *)argv, env);
    dprintf(STDERR_FILENO, "test_exec_mighost: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

pid_t test_spawn_mighost_logged(const char *endpoint, const char *const *args, const char *errfile)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        test_exec_mighost(NULL, endpoint, args);
    }
    return pid;
}

int test_mighost_in_pty(const char *endpoint, const char *const *args, const char *answer,
                        buf *out)
{
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    if (pid < 0) return -1;
    if (pid == 0) test_exec_mighost(NULL, endpoint, args);
    buf_reset(out);
    int answered = 0;
    for (;;) {
        struct pollfd p = {master, POLLIN, 0};
        if (poll(&p, 1, 30000) <= 0) break;
        char chunk[4096];
        ssize_t n = read(master, chunk, sizeof chunk);
        if (n <= 0) break;
        buf_append(out, chunk, (size_t)n);
        if (!answered && strstr(buf_str(out), "Proceed? [y/N]")) {
            answered = 1;
            if (write(master, answer, strlen(answer)) < 0) break;
        }
    }
    close(master);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

pid_t test_spawn_mighost(const char *bin, const char *endpoint, const char *const *args)
{
    const char **argv = mighost_argv(bin, endpoint, args);
    char **env = build_env(test_fake_aws_env, test_aws_env_unset);
    /* The child writes errno here if exec fails; a successful exec closes it. */
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        fprintf(stderr, "test_spawn_mighost: pipe: %s\n", strerror(errno));
        free(argv);
        free(env);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        int null = open("/dev/null", O_RDWR);
        if (null < 0) _exit(127);
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execvpe(argv[0], (char *const *)argv, env);
        int e = errno;
        if (write(report[1], &e, sizeof e) < 0) _exit(127);
        _exit(127);
    }
    close(report[1]);
    int e = 0;
    ssize_t got = -1;
    if (pid > 0)
        while ((got = read(report[0], &e, sizeof e)) < 0 && errno == EINTR) {
        }
    close(report[0]);
    if (pid < 0) {
        fprintf(stderr, "test_spawn_mighost: fork: %s\n", strerror(errno));
    } else if (got > 0) {
        fprintf(stderr, "test_spawn_mighost: cannot run %s: %s\n", argv[0], strerror(e));
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        pid = -1;
    }
    free(argv);
    free(env);
    return pid;
}

/* Appends list to args[0..*n), keeping room for the final NULL. */
static int args_append(const char **args, size_t cap, size_t *n, const char *const *list)
{
    for (; list && *list; list++) {
        if (*n + 1 >= cap) return -1;
        args[(*n)++] = *list;
    }
    return 0;
}

int test_args_join(const char **args, size_t cap, const char *const *base,
                   const char *const *extra)
{
    if (cap == 0) return -1;
    size_t n = 0;
    int fits = args_append(args, cap, &n, base) == 0 && args_append(args, cap, &n, extra) == 0;
    args[n] = NULL;
    return fits ? (int)n : -1;
}

size_t test_count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

int test_cmp_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}
