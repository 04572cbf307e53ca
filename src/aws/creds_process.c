/* creds_process.c - the credential_process provider.
 *
 * The command runs through /bin/sh -c with stdin and the terminal left to
 * it (so it can prompt), stdout captured for the JSON and stderr captured
 * for error messages. stdout holds secrets and never appears in a message;
 * of stderr, only the first line is quoted, with anything that looks like
 * a key or a token masked. A command that takes longer than the timeout
 * (--credential-process-timeout, default 60 s) is killed.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "creds_int.h"

#define PROCESS_MAX_STDOUT (1024 * 1024)
#define PROCESS_MAX_STDERR (16 * 1024)
#define PROCESS_MSG_STDERR 200    /* stderr quoted in a message, at most */

typedef struct process_output {
    buf out, err;
    int out_overflow;
    int timed_out;
    int status;          /* from waitpid */
} process_output;

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Append what fd has to b, up to max bytes (the rest is read and dropped so
 * the child never blocks on a full pipe). Returns 0 at EOF, 1 otherwise. */
static int drain(int fd, buf *b, size_t max, int *overflow)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0) return errno == EINTR || errno == EAGAIN ? 1 : 0;
    if (n == 0) return 0;
    size_t room = b->len < max ? max - b->len : 0;
    if ((size_t)n > room && overflow) *overflow = 1;
    buf_append(b, chunk, (size_t)n < room ? (size_t)n : room);
    return 1;
}

static int run_command(const char *cmd, int timeout, process_output *po, buf *err)
{
    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0) goto fail;
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
        close(out_pipe[0]);
        close(out_pipe[1]);
        goto fail;
    }
    /* Without a terminal to prompt on, the command gets a process group of
     * its own, so a timeout stops its children too. */
    int own_group = !isatty(STDIN_FILENO);
    pid_t pid = fork();
    if (pid < 0) {
        close(out_pipe[0]); close(out_pipe[1]);
        close(err_pipe[0]); close(err_pipe[1]);
        goto fail;
    }
    if (pid == 0) {
        dup2(out_pipe[1], STDOUT_FILENO);
        dup2(err_pipe[1], STDERR_FILENO);
        signal(SIGPIPE, SIG_DFL);
        if (own_group) setpgid(0, 0);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    if (own_group) setpgid(pid, pid);
    close(out_pipe[1]);
    close(err_pipe[1]);
    struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_fds = 2;
    double deadline = now_mono() + timeout;
    while (open_fds > 0) {
        double left = deadline - now_mono();
        int r = left > 0 ? poll(fds, 2, (int)(left * 1000) + 1) : 0;
        if (r == 0) {
            po->timed_out = 1;
            kill(own_group ? -pid : pid, SIGKILL);
            break;
        }
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            int more = i == 0 ? drain(fds[i].fd, &po->out, PROCESS_MAX_STDOUT, &po->out_overflow)
                              : drain(fds[i].fd, &po->err, PROCESS_MAX_STDERR, NULL);
            if (!more) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0) close(fds[i].fd);
    while (waitpid(pid, &po->status, 0) < 0) {
        if (errno != EINTR) {
            buf_printf(err, "waiting for the command failed: %s", strerror(errno));
            return -1;
        }
    }
    return 0;
fail:
    buf_printf(err, "cannot start /bin/sh: %s", strerror(errno));
    return -1;
}

/* 1 if word (len bytes) looks like a key, token or password: long, an
 * access key id (capitals and digits), or letters mixed with digits the
 * way generated secrets are. A path ("/usr/bin/x", "~/x") is not one. */
static int looks_secret(const char *w, size_t len)
{
    if (w[0] == '/' || w[0] == '~' || (len > 1 && w[0] == '.' && w[1] == '/')) return 0;
    int alpha = 0, digit = 0, lower = 0;
    for (size_t i = 0; i < len; i++) {
        if (isalpha((unsigned char)w[i])) alpha = 1;
        if (islower((unsigned char)w[i])) lower = 1;
        if (isdigit((unsigned char)w[i])) digit = 1;
    }
    return len >= 32 || (len >= 16 && !lower) || (len >= 12 && alpha && digit);
}

/* text (len bytes) with every secret-looking word replaced by "****";
 * "=" and ":" separate words, so "token=SECRET" keeps its name. */
static void put_masked(buf *msg, const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && (isalnum((unsigned char)text[j]) || strchr("/+_-.~", text[j]))) j++;
        if (j > i) {
            if (looks_secret(text + i, j - i)) buf_puts(msg, "****");
            else buf_append(msg, text + i, j - i);
            i = j;
        } else {
            buf_putc(msg, isprint((unsigned char)text[i]) ? text[i] : '?');
            i++;
        }
    }
}

/* The first line of the command's stderr, masked and shortened. */
static void quote_stderr(buf *msg, const buf *e)
{
    const char *s = buf_str(e);
    while (*s == '\n' || *s == '\r' || *s == ' ') s++;
    size_t n = strcspn(s, "\r\n");
    while (n > 0 && s[n - 1] == ' ') n--;
    if (n == 0) {
        buf_puts(msg, " (nothing on stderr)");
        return;
    }
    buf_puts(msg, "; its stderr begins: ");
    put_masked(msg, s, n < PROCESS_MSG_STDERR ? n : PROCESS_MSG_STDERR);
    if (n > PROCESS_MSG_STDERR) buf_puts(msg, "\xe2\x80\xa6");
}

/* "credential_process for profile "P" (command: CMD)", masked and shortened. */
static void describe(buf *msg, const char *profile, const char *cmd)
{
    size_t n = strlen(cmd);
    buf_printf(msg, "credential_process for profile \"%s\" (command: ", profile);
    put_masked(msg, cmd, n < BUF_SHOWN_MAX ? n : BUF_SHOWN_MAX);
    if (n > BUF_SHOWN_MAX) buf_puts(msg, "\xe2\x80\xa6");
    buf_putc(msg, ')');
}

int creds_from_process(creds_ctx *x, const char *profile, aws_creds *out)
{
    const char *cmd = profile_get(x->store, profile, "credential_process");
    if (!cmd || !*cmd) return CREDS_NONE;
    process_output po;
    memset(&po, 0, sizeof po);
    int rc = CREDS_FAIL;
    if (run_command(cmd, x->process_timeout, &po, x->err) != 0) goto done;
    if (po.timed_out) {
        describe(x->err, profile, cmd);
        buf_printf(x->err, " did not finish within %d s and was stopped (raise the limit with "
                           "--credential-process-timeout SECONDS)", x->process_timeout);
        quote_stderr(x->err, &po.err);
        goto done;
    }
    if (WIFSIGNALED(po.status)) {
        describe(x->err, profile, cmd);
        buf_printf(x->err, " was killed by signal %d", WTERMSIG(po.status));
        quote_stderr(x->err, &po.err);
        goto done;
    }
    if (WEXITSTATUS(po.status) != 0) {
        describe(x->err, profile, cmd);
        buf_printf(x->err, " failed with exit status %d", WEXITSTATUS(po.status));
        quote_stderr(x->err, &po.err);
        goto done;
    }
    if (po.out_overflow) {
        buf_printf(x->err, "credential_process for profile \"%s\" printed more than %d bytes",
                   profile, PROCESS_MAX_STDOUT);
        goto done;
    }
    buf what = BUF_INIT;
    describe(&what, profile, cmd);
    size_t mark = x->err->len;
    rc = CREDS_FAIL;
    long version = -1;
    if (creds_from_json(buf_str(&po.out), po.out.len, "SessionToken", buf_str(&what), &version,
                        out, x->err) == CREDS_FOUND) {
        /* 1 is the only version of the format; the CLI refuses others. */
        if (version == 1) {
            out->source = "credential-process";
            rc = CREDS_FOUND;
        } else {
            buf_printf(x->err, "%s printed %s (mighost supports \"Version\": 1)",
                       buf_str(&what), version < 0 ? "no Version" : "an unsupported Version");
            aws_creds_clear(out);
        }
    }
    if (rc != CREDS_FOUND && x->err->len > mark && po.err.len) quote_stderr(x->err, &po.err);
    buf_free(&what);
done:
    if (po.out.data) explicit_bzero(po.out.data, po.out.len);
    buf_free(&po.out);
    buf_free(&po.err);
    return rc;
}
