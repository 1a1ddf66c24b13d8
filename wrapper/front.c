/*
 * cni-trace's front (docs/decisions.md 32): the file a runtime execs as <binDir>/cni-trace.
 * The plugin itself — config, chain, journal, nested tracing — is the Node executable beside
 * it, <binDir>/cni-trace-node. For ADD, DEL, CHECK, STATUS and GC the front starts it with a
 * socket as fd 3 and does two things Node does slowly:
 *   - it spawns each delegate (posix_spawn, a vfork: ~0.8 ms, where Node's fork of its own
 *     50 MB costs ~2.4 ms) and relays its stdout, stderr and wait status over the socket;
 *   - it writes Node's answer to stdout and exits with its code at once, so Node's exit
 *     (V8 and environment teardown, ~4 ms) is off the runtime's clock.
 * Node holds none of the runtime's pipes except stdin (its stdout and stderr are /dev/null;
 * its stderr lines come over the socket), so libcni's Wait returns when the front exits.
 * Anything else (VERSION, no command, arguments: the CLI) execs Node in place.
 *
 * Node → front: 'S' spawn (path NUL, env entries NUL-terminated, an empty entry, then stdin),
 *               'W' bytes for our stderr, 'A' the answer (exit code byte, then stdout).
 * front → Node: 'P' started (pid u32, start mono ns u64), 'F' spawn failed (errno u32),
 *               'O' / 'E' the delegate's stdout / stderr bytes (stderr is written to our own
 *               stderr, the runtime's, as it is read: Node keeps it for the journal only, and
 *               never writes while a delegate runs, so neither side blocks on the other),
 *               'X' it ended (0 exited or
 *               1 signaled u8, code or signal u32, end mono ns u64) once both pipes are closed.
 * Each message: type byte, payload length u32 (little endian), payload.
 * If the front is killed, Node sees the socket close and kills the live delegate's group; if
 * Node dies before answering, the front kills it and answers with a CNI error.
 * C11 + POSIX/Linux libc only, static.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef LATEST_VERSION
#error "build with -DLATEST_VERSION=\"x.y.z\" (scripts/build-shim.ts takes it from src/cni/version.ts)"
#endif

extern char **environ;

#define NODE_SUFFIX "-node"
#define FRONT_ENV "CNI_TRACE_FRONT"
#define CHUNK 65536

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 0;
    }
    p += n;
    len -= (size_t)n;
  }
  return 1;
}

static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint32_t get32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static int ctl = -1;

/* One message to Node. A failure means Node is gone; the EOF on the socket says so next. */
static void send_msg(char type, const void *payload, size_t len) {
  unsigned char head[5];
  head[0] = (unsigned char)type;
  put32(head + 1, (uint32_t)len);
  if (write_all(ctl, head, 5)) write_all(ctl, payload, len);
}

/* The CNI error a runtime gets when the plugin proper cannot run or died before answering. */
static void fail(const char *what, const char *detail) {
  char out[PATH_MAX + 512];
  int n = snprintf(out, sizeof out, "{\"cniVersion\":\"%s\",\"code\":999,\"msg\":\"cni-trace: %s\",\"details\":\"%s\"}\n",
                   LATEST_VERSION, what, detail);
  if (n > 0) write_all(1, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
  n = snprintf(out, sizeof out, "cni-trace: %s: %s\n", what, detail);
  if (n > 0) write_all(2, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
  _exit(1);
}

/* <dir of this executable>/<its name>-node; the same directory the runtime trusted for us. */
static void node_path(char *out, size_t size) {
  ssize_t n = readlink("/proc/self/exe", out, size - sizeof NODE_SUFFIX);
  if (n <= 0 || (size_t)n >= size - sizeof NODE_SUFFIX) fail("cannot find its own executable", strerror(errno));
  memcpy(out + n, NODE_SUFFIX, sizeof NODE_SUFFIX);
}

static int traced_command(const char *cmd) {
  return cmd && *cmd && strcmp(cmd, "VERSION") != 0;
}

/* The live delegate (the chain runs one at a time). */
static struct {
  pid_t pid;
  int in, out, err;
  const unsigned char *stdin_buf;
  size_t stdin_left;
} d = { 0, -1, -1, -1, NULL, 0 };

static unsigned char *spawn_msg; /* owns stdin_buf while the delegate reads it */

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* 'S': posix_spawn the delegate in its own process group with default signal handling. */
static void spawn_delegate(unsigned char *msg, size_t len) {
  unsigned char reply[12];
  char *path = (char *)msg;
  size_t off = strnlen(path, len) + 1;
  char **envp = NULL;
  size_t n = 0;
  for (size_t o = off; o < len && msg[o] != 0; o += strnlen((char *)msg + o, len - o) + 1) n++;
  envp = calloc(n + 1, sizeof *envp);
  if (!envp || off > len) { put32(reply, ENOMEM); send_msg('F', reply, 4); free(msg); return; }
  n = 0;
  while (off < len && msg[off] != 0) {
    envp[n++] = (char *)msg + off;
    off += strnlen((char *)msg + off, len - off) + 1;
  }
  off++; /* the empty entry */
  int pin[2], pout[2], perr[2];
  if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)) {
    put32(reply, (uint32_t)errno); send_msg('F', reply, 4); free(envp); free(msg); return;
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
  posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
  posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
  posix_spawnattr_init(&at);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setsigmask(&at, &none);
  char *argv[] = { path, NULL };
  uint64_t start = mono_ns();
  pid_t pid;
  int rc = posix_spawn(&pid, path, &fa, &at, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  free(envp);
  close(pin[0]); close(pout[1]); close(perr[1]);
  if (rc != 0) {
    close(pin[1]); close(pout[0]); close(perr[0]);
    put32(reply, (uint32_t)rc);
    send_msg('F', reply, 4);
    free(msg);
    return;
  }
  d.pid = pid;
  d.in = pin[1];
  d.out = pout[0];
  d.err = perr[0];
  fcntl(d.in, F_SETFL, O_NONBLOCK);
  spawn_msg = msg;
  d.stdin_buf = msg + (off < len ? off : len);
  d.stdin_left = off < len ? len - off : 0;
  if (d.stdin_left == 0) close_fd(&d.in);
  put32(reply, (uint32_t)pid);
  put64(reply + 4, start);
  send_msg('P', reply, 12);
}

/* Both of the delegate's pipes are closed: reap it and tell Node how it ended. */
static void delegate_done(void) {
  int st = 0;
  while (waitpid(d.pid, &st, 0) < 0 && errno == EINTR) {}
  unsigned char reply[13];
  reply[0] = WIFSIGNALED(st) ? 1 : 0;
  put32(reply + 1, (uint32_t)(WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st)));
  put64(reply + 5, mono_ns());
  close_fd(&d.in);
  d.pid = 0;
  free(spawn_msg);
  spawn_msg = NULL;
  send_msg('X', reply, 13);
}

static void relay(int *fd, char type) {
  static unsigned char buf[CHUNK];
  ssize_t n = read(*fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) { close_fd(fd); return; }
  if (type == 'E') write_all(2, buf, (size_t)n);
  send_msg(type, buf, (size_t)n);
}

static void feed_stdin(void) {
  ssize_t n = write(d.in, d.stdin_buf, d.stdin_left);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n < 0) { close_fd(&d.in); return; } /* EPIPE: the plugin did not read it; not our failure */
  d.stdin_buf += n;
  d.stdin_left -= (size_t)n;
  if (d.stdin_left == 0) close_fd(&d.in);
}

/* Node is gone without an answer: kill what it left running and say so. */
static void node_died(pid_t node) {
  if (d.pid > 0) kill(-d.pid, SIGKILL);
  int st = 0;
  while (waitpid(node, &st, 0) < 0 && errno == EINTR) {}
  char why[64];
  if (WIFSIGNALED(st)) snprintf(why, sizeof why, "killed by signal %d", WTERMSIG(st));
  else snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(st));
  fail("the tracer exited before answering", why);
}

int main(int argc, char **argv) {
  char node[PATH_MAX];
  node_path(node, sizeof node);
  if (argc > 1 || !traced_command(getenv("CNI_COMMAND"))) {
    execv(node, argv);
    fail("cannot run the tracer", strerror(errno));
  }
  signal(SIGPIPE, SIG_IGN);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) fail("cannot make a socket", strerror(errno));

  /* Node's env: ours without any FRONT_ENV of someone else's, and "3:<our pid>:<wall>:<mono>":
   * where its socket is, the pid the runtime waits on (journaled; readers test it for life). */
  size_t n = 0, kept = 0;
  while (environ[n]) n++;
  char **envp = calloc(n + 2, sizeof *envp);
  if (!envp) fail("out of memory", "env");
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], FRONT_ENV "=", sizeof FRONT_ENV) != 0) envp[kept++] = environ[i];
  /* And a clock anchor, wall and monotonic ns read together: Node's records need wall-clock
   * microseconds, and Node's own source of them (performance.timeOrigin) loads perf_hooks,
   * ~1.5 ms of every call. */
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  uint64_t mono = mono_ns();
  char front_var[96];
  snprintf(front_var, sizeof front_var, FRONT_ENV "=3:%ld:%llu:%llu", (long)getpid(),
           (unsigned long long)wall.tv_sec * 1000000000ull + (unsigned long long)wall.tv_nsec, (unsigned long long)mono);
  envp[kept] = front_var;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t node_pid;
  char *nargv[] = { node, NULL };
  int rc = posix_spawn(&node_pid, node, &fa, NULL, nargv, envp);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) fail("cannot run the tracer", strerror(rc));
  close(sv[1]);
  ctl = sv[0];

  unsigned char *in = NULL;
  size_t have = 0, cap = 0;
  for (;;) {
    struct pollfd p[4];
    int np = 0, ic = np++;
    p[ic] = (struct pollfd){ ctl, POLLIN, 0 };
    int io = -1, ie = -1, ii = -1;
    if (d.out >= 0) { io = np++; p[io] = (struct pollfd){ d.out, POLLIN, 0 }; }
    if (d.err >= 0) { ie = np++; p[ie] = (struct pollfd){ d.err, POLLIN, 0 }; }
    if (d.in >= 0) { ii = np++; p[ii] = (struct pollfd){ d.in, POLLOUT, 0 }; }
    if (poll(p, (nfds_t)np, -1) < 0) {
      if (errno == EINTR) continue;
      fail("poll", strerror(errno));
    }
    if (ii >= 0 && p[ii].revents) feed_stdin();
    if (io >= 0 && p[io].revents) relay(&d.out, 'O');
    if (ie >= 0 && p[ie].revents) relay(&d.err, 'E');
    if (d.pid > 0 && d.out < 0 && d.err < 0) delegate_done();
    if (!p[ic].revents) continue;
    if (have == cap) {
      cap = cap ? cap * 2 : CHUNK;
      unsigned char *grown = realloc(in, cap);
      if (!grown) fail("out of memory", "socket");
      in = grown;
    }
    ssize_t got = read(ctl, in + have, cap - have);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) node_died(node_pid);
    have += (size_t)got;
    size_t used = 0;
    while (have - used >= 5) {
      uint32_t len = get32(in + used + 1);
      if (have - used - 5 < len) {
        if (cap < (size_t)len + 5) {
          /* Make room for the whole message before reading on. */
          memmove(in, in + used, have - used);
          have -= used;
          used = 0;
          cap = (size_t)len + 5;
          unsigned char *grown = realloc(in, cap);
          if (!grown) fail("out of memory", "socket");
          in = grown;
        }
        break;
      }
      unsigned char type = in[used];
      unsigned char *body = in + used + 5;
      used += 5 + (size_t)len;
      if (type == 'W') {
        write_all(2, body, len);
      } else if (type == 'A' && len >= 1) {
        write_all(1, body + 1, len - 1);
        _exit(body[0]);
      } else if (type == 'S' && d.pid == 0) {
        unsigned char *msg = malloc(len + 1);
        if (!msg) { unsigned char e[4]; put32(e, ENOMEM); send_msg('F', e, 4); continue; }
        memcpy(msg, body, len);
        msg[len] = 0;
        spawn_delegate(msg, len);
      }
    }
    memmove(in, in + used, have - used);
    have -= used;
  }
}
