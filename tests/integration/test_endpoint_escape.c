/* test_endpoint_escape.c - plain http must never leave loopback.
 *
 * A listener on one of this machine's non-loopback addresses stands for a
 * remote host. Endpoint spellings that put a loopback name in front of it
 * (userinfo), and a loopback server that redirects to it, must all end
 * without a single connection reaching it: signed headers and session
 * tokens would travel in clear text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testsupport.h"

static int remote_fd = -1;          /* the non-loopback listener */
static char remote[64];             /* its "address:port" */

/* The first IPv4 address of an interface that is up and not loopback. */
static int find_remote_address(char *out, size_t cap)
{
    struct ifaddrs *all;
    if (getifaddrs(&all) != 0) return -1;
    int found = -1;
    for (struct ifaddrs *a = all; a && found != 0; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
        const struct sockaddr_in *in = (const struct sockaddr_in *)a->ifa_addr;
        if ((ntohl(in->sin_addr.s_addr) >> 24) == 127) continue;
        if (inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)cap)) found = 0;
    }
    freeifaddrs(all);
    return found;
}

static int listen_on(const char *addr, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    inet_pton(AF_INET, addr, &sa.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

/* 1 if a connection is waiting on fd (the kernel completes the handshake
 * without accept, so any attempt shows here). */
static int connection_waiting(int fd)
{
    if (fd < 0) return 0;   /* no listener on this machine (see setup) */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 200) > 0;
}

static int setup(void **state)
{
    (void)state;
    char addr[INET_ADDRSTRLEN];
    int port;
    if (find_remote_address(addr, sizeof addr) != 0) {
        /* Nothing to listen on: the refusals are still checked, against a
         * documentation address (TEST-NET-1) nobody answers. */
        fprintf(stderr, "test_endpoint_escape: this machine has no non-loopback IPv4 address; "
                        "checking the refusals only, without a listener\n");
        snprintf(remote, sizeof remote, "192.0.2.1:9");
        return 0;
    }
    remote_fd = listen_on(addr, &port);
    if (remote_fd < 0) return -1;
    snprintf(remote, sizeof remote, "%s:%d", addr, port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (remote_fd >= 0) close(remote_fd);
    return 0;
}

static const char *const env[] = {
    "AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=test-secret",
    "AWS_SESSION_TOKEN=session-token-that-must-stay-local", "AWS_REGION=us-east-1",
    "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", NULL};

static int call_with(const char *endpoint, const char *const *extra_env, buf *err)
{
    const char *e[16];
    int n = 0;
    for (const char *const *p = env; *p; p++) e[n++] = *p;
    for (const char *const *p = extra_env; p && *p; p++) e[n++] = *p;
    e[n] = NULL;
    const char *argv[] = {test_mighost_path(), "call", "--max-attempts", "1", "--timeout", "2",
                          endpoint ? "--endpoint-url" : "dynamodb", endpoint ? endpoint : "ListTables",
                          endpoint ? "dynamodb" : NULL, "ListTables", NULL};
    return test_run(argv, e, test_aws_env_unset, NULL, NULL, err);
}

static void test_userinfo_never_connects(void **state)
{
    (void)state;
    static const char *const forms[] = {"http://127.0.0.1:1@%s", "http://localhost:x@%s/",
                                        "http://127.0.0.1@%s", "http://[::1]:1@%s/path", NULL};
    buf err = BUF_INIT;
    char url[160], var[200];
    for (const char *const *f = forms; *f; f++) {
        snprintf(url, sizeof url, *f, remote);
        assert_int_equal(call_with(url, NULL, &err), 2);
        assert_non_null(strstr(buf_str(&err), "user name or password"));
        if (connection_waiting(remote_fd)) fail_msg("%s reached %s", url, remote);
        /* the same through the environment */
        snprintf(var, sizeof var, "AWS_ENDPOINT_URL=%s", url);
        assert_int_equal(call_with(NULL, (const char *const[]){var, NULL}, &err), 2);
        if (connection_waiting(remote_fd)) fail_msg("AWS_ENDPOINT_URL %s reached %s", url, remote);
    }
    /* The listener is reachable: the check above would see a connection. */
    if (remote_fd < 0) {
        buf_free(&err);
        return;
    }
    snprintf(url, sizeof url, "https://%s", remote);
    int rc = call_with(url, NULL, &err);
    assert_int_not_equal(rc, 0);
    assert_true(connection_waiting(remote_fd));
    int c = accept(remote_fd, NULL, NULL);
    if (c >= 0) close(c);
    buf_free(&err);
}

/* A loopback server that answers every request with a redirect to the
 * remote listener; mighost must not follow it. */
static pid_t start_redirector(int *port)
{
    int fd = listen_on("127.0.0.1", port);
    if (fd < 0) return -1;
    pid_t pid = fork();
    if (pid != 0) {
        close(fd);
        return pid;
    }
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0) _exit(0);
        char req[4096];
        if (read(c, req, sizeof req) < 0) {}
        char resp[256];
        int n = snprintf(resp, sizeof resp, "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://%s/"
                         "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", remote);
        if (write(c, resp, (size_t)n) < 0) {}
        close(c);
    }
}

static void test_redirect_not_followed(void **state)
{
    (void)state;
    int port;
    pid_t pid = start_redirector(&port);
    assert_true(pid > 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    buf err = BUF_INIT;
    int rc = call_with(url, NULL, &err);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    assert_int_not_equal(rc, 0);
    if (connection_waiting(remote_fd)) fail_msg("the redirect to %s was followed", remote);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_userinfo_never_connects),
        cmocka_unit_test(test_redirect_not_followed),
    };
    return cmocka_run_group_tests_name("endpoint_escape", tests, setup, teardown);
}
