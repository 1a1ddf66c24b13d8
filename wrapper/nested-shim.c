/*
 * cni-trace's nested-call shim (docs/decisions.md 15). A delegate that looks up a plugin in
 * CNI_PATH finds <runDir>/<invocation>/bin/NAME first, a link to this binary (through
 * <runDir>/shims-<hash>/bin/NAME -> ../shim). It finds the real NAME in the rest of CNI_PATH
 * as libcni does, runs it with the caller's stdin, env and a TRACEPARENT naming the nested
 * call's own span, relays stdout and stderr as they come, and spools the call into the
 * invocation's calls/ directory for the wrapper to journal:
 *
 *   <span>.begin  "v1 <start mono ns> <name len> <path len> <env len> <stdin len>\n" then the name,
 *                 the real path, the env as NUL-terminated K=V entries and stdin, raw bytes
 *   <span>.out    the first SPOOL_CAP bytes of stdout (only when there was some)
 *   <span>.err    the same for stderr
 *   <span>.end    "exit N <end mono ns> <out bytes> <err bytes>" or "signal S <end mono ns> ..."
 *
 * It exits as the plugin did: the same exit status, or death by the same signal, told apart
 * by the wait status (never by the number: a plugin exiting 143 is not one killed by SIGTERM).
 * Whatever it cannot record, it still runs the plugin; nothing it fails to spool changes what
 * the caller sees.
 *
 * Command mode (the same binary copied as <runDir>/cmds-<hash>/shim, its links found through
 * PATH at <runDir>/<invocation>/cmd/NAME): a command a plugin runs (iptables, ip, tc …). It
 * finds the real NAME in the rest of PATH as Go's exec.LookPath would (the first entry that is
 * not a directory and is executable), leaves stdin to the command untouched, and spools
 *
 *   <span>.begin  "c1 <start mono ns> <name len> <path len> <traceparent len> <argv len>\n" then
 *                 the name, the real path, the caller's TRACEPARENT and argv NUL-terminated
 *
 * with .out/.err bounded at CMD_SPOOL_CAP and .end as above.
 * C11 + POSIX/Linux libc only; one process besides the plugin's: none (posix_spawn = vfork).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SPOOL_CAP (1u << 20) /* the wrapper journals at most captureMaxBytes of it anyway */
#define CMD_SPOOL_CAP 4096u  /* a command's stderr says why (the xtables lock); its output is not the story */
#define EXIT_NOT_FOUND 127

static const char *name = "";
/* Command mode: search PATH as Go's LookPath, our entries end in "/cmd" rather than "/bin". */
static int command_mode = 0;
static unsigned spool_cap = SPOOL_CAP;

/* CLOCK_MONOTONIC, Node's process.hrtime: the wrapper turns it into epoch time with the anchor of
 * its own records, so a call's times sit inside its caller's (this node's wall clock and Node's
 * time origin can disagree by milliseconds on a loaded node). */
static unsigned long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

/* Writes all of buf; false on any error (EPIPE included: SIGPIPE is ignored). */
static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 0;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 1;
}

static int is_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

/* A directory we made: owned by us, writable by nobody else, not a link. -1 otherwise. */
static int open_private_dir(int at, const char *path) {
  int fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0) return -1;
  if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* libcni's FindInPath: the first dir/name that stat() says is a regular file ("" is the cwd),
 * never this shim itself (a shim dir in CNI_PATH under another name must not make it loop). */
static char *find_plugin(char *const *dirs, size_t ndirs) {
  struct stat me;
  int know_me = stat("/proc/self/exe", &me) == 0;
  for (size_t i = 0; i < ndirs; i++) {
    size_t dl = strlen(dirs[i]);
    char *cand = malloc(dl + strlen(name) + 2);
    struct stat st;
    if (!cand) return NULL;
    if (dl == 0) strcpy(cand, name);
    else sprintf(cand, "%s%s%s", dirs[i], dirs[i][dl - 1] == '/' ? "" : "/", name);
    if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && !(know_me && st.st_dev == me.st_dev && st.st_ino == me.st_ino)) return cand;
    free(cand);
  }
  return NULL;
}

/* Go's exec.LookPath (os/exec, lp_unix.go): "" is ".", the first dir/name that stat() says is not a
 * directory and that eaccess(X_OK) allows (the mode's x bits where eaccess is refused). A
 * relative hit is Go's ErrDot: not found. Never this shim itself. */
static char *find_command(char *const *dirs, size_t ndirs) {
  struct stat me;
  int know_me = stat("/proc/self/exe", &me) == 0;
  for (size_t i = 0; i < ndirs; i++) {
    const char *dir = dirs[i][0] ? dirs[i] : ".";
    size_t dl = strlen(dir);
    char *cand = malloc(dl + strlen(name) + 2);
    struct stat st;
    if (!cand) return NULL;
    sprintf(cand, "%s%s%s", dir, dir[dl - 1] == '/' ? "" : "/", name);
    if (stat(cand, &st) == 0 && !S_ISDIR(st.st_mode) && !(know_me && st.st_dev == me.st_dev && st.st_ino == me.st_ino)) {
      int ok = faccessat(AT_FDCWD, cand, X_OK, AT_EACCESS) == 0;
      if (!ok && (errno == ENOSYS || errno == EPERM)) ok = (st.st_mode & 0111) != 0;
      if (ok) {
        if (cand[0] == '/') return cand;
        free(cand);
        return NULL;
      }
    }
    free(cand);
  }
  return NULL;
}

/* Runs the plugin in our place, untraced, with argv[0] its path as libcni would give it. */
static _Noreturn void exec_untraced(const char *real, char **argv) {
  if (!real) {
    fprintf(stderr, "cni-trace: %s %s was removed from %s during the call\n", command_mode ? "command" : "plugin", name, command_mode ? "PATH" : "CNI_PATH");
    _exit(EXIT_NOT_FOUND);
  }
  /* A plugin gets its path as argv[0] (libcni); a command what the caller gave, with our path
   * replaced by the real one (go-iptables passes LookPath's answer; multi-call binaries such as
   * xtables-*-multi dispatch on its base name, which is the same). */
  if (!command_mode || strchr(argv[0] ? argv[0] : "/", '/')) argv[0] = (char *)real;
  execve(real, argv, environ);
  fprintf(stderr, "cni-trace: cannot run %s: %s\n", real, strerror(errno));
  _exit(126);
}

/* Reads all of fd 0 (a closed or unreadable stdin is an empty one). */
static char *read_stdin(size_t *len) {
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  for (;;) {
    if (n == cap) {
      char *grown = realloc(buf, cap *= 2);
      if (!grown) { free(buf); return NULL; }
      buf = grown;
    }
    ssize_t r = read(0, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
  }
  *len = n;
  return buf;
}

/* One output stream of the plugin: relayed to `to`, spooled to <span><ext> up to SPOOL_CAP. */
struct stream {
  int from, to, spool;
  const char *ext;
  unsigned long long total;
  int to_open, spool_ok;
};

static void relay(struct stream *s, int calls, const char *span, char *buf, size_t cap) {
  ssize_t n = read(s->from, buf, cap);
  if (n < 0 && errno == EINTR) return;
  if (n <= 0) { close(s->from); s->from = -1; return; }
  /* The caller first: if it closed its end, keep draining so the plugin never blocks. */
  if (s->to_open && !write_all(s->to, buf, (size_t)n)) s->to_open = 0;
  unsigned long long before = s->total;
  s->total += (unsigned long long)n;
  if (!s->spool_ok || before >= spool_cap) return;
  if (s->spool < 0) {
    char file[32];
    snprintf(file, sizeof file, "%s%s", span, s->ext);
    s->spool = openat(calls, file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (s->spool < 0) { s->spool_ok = 0; return; }
  }
  size_t keep = (size_t)n;
  if (before + keep > spool_cap) keep = (size_t)(spool_cap - before);
  if (!write_all(s->spool, buf, keep)) s->spool_ok = 0;
}

/* Writes <span><ext> whole in one go; failures are ignored (the wrapper then lacks the record). */
static void spool_file(int calls, const char *span, const char *ext, const struct iovec *iov, int iovcnt) {
  char file[32];
  snprintf(file, sizeof file, "%s%s", span, ext);
  int fd = openat(calls, file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  while (writev(fd, iov, iovcnt) < 0 && errno == EINTR) {}
  close(fd);
}

/* The caller was told the real binary is gone: spooled as a call that exited 127 with that line. */
static _Noreturn void spool_missing(int calls, const char *span, const struct iovec *iov, int iovcnt) {
  char msg[4200];
  int ml = snprintf(msg, sizeof msg, "cni-trace: %s %s was removed from %s during the call\n", command_mode ? "command" : "plugin", name, command_mode ? "PATH" : "CNI_PATH");
  write_all(2, msg, (size_t)ml);
  spool_file(calls, span, ".begin", iov, iovcnt);
  spool_file(calls, span, ".err", &(struct iovec){msg, (size_t)ml}, 1);
  char end[96];
  int el = snprintf(end, sizeof end, "exit %d %llu 0 %d\n", EXIT_NOT_FOUND, now_ns(), ml);
  spool_file(calls, span, ".end", &(struct iovec){end, (size_t)el}, 1);
  _exit(EXIT_NOT_FOUND);
}

/* Runs `real` with stdin_fd as its stdin (-1: ours, untouched), relays and spools its output,
 * writes <span>.end and exits as it did. */
static _Noreturn void run_traced(int calls, const char *span, char *real, char **argv, int stdin_fd) {
  /* TRACEPARENT: the caller's trace and flags, this call's span. */
  const size_t tpl = sizeof "TRACEPARENT=" - 1;
  for (char **e = environ; *e; e++) {
    if (strncmp(*e, "TRACEPARENT=", tpl) != 0) continue;
    const char *v = *e + tpl;
    if (strlen(v) == 55 && v[0] == '0' && v[1] == '0' && v[2] == '-' && is_hex(v + 3, 32) && v[35] == '-' &&
        is_hex(v + 36, 16) && v[52] == '-' && is_hex(v + 53, 2)) {
      char *tp = strdup(*e); /* the spooled env keeps the caller's value, which names the parent */
      if (tp) { memcpy(tp + tpl + 36, span, 16); *e = tp; }
    }
  }

  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    if (stdin_fd >= 0) dup2(stdin_fd, 0);
    exec_untraced(real, argv);
  }
  /* A caller that closed its end must not kill us mid-relay; the plugin gets SIGPIPE as the
   * caller left it (default, unless the caller ignored it). Its signal mask is ours: the caller's. */
  struct sigaction ign = {.sa_handler = SIG_IGN}, was;
  sigemptyset(&ign.sa_mask);
  sigaction(SIGPIPE, &ign, &was);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t def;
  sigemptyset(&def);
  if (was.sa_handler != SIG_IGN) sigaddset(&def, SIGPIPE);
  posix_spawn_file_actions_init(&fa);
  if (stdin_fd >= 0) posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setsigdefault(&attr, &def);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  if (!command_mode || strchr(argv[0] ? argv[0] : "/", '/')) argv[0] = (char *)real;
  pid_t pid;
  int rc = posix_spawn(&pid, real, &fa, &attr, argv, environ);
  close(out[1]);
  close(err[1]);
  if (stdin_fd >= 0) close(stdin_fd);
  if (rc != 0) {
    /* As a failed exec in a forked child reports it: 126 (or 127 for ENOENT), the reason on stderr. */
    char msg[4200];
    int ml = snprintf(msg, sizeof msg, "cni-trace: cannot run %s: %s\n", real, strerror(rc));
    int code = rc == ENOENT ? EXIT_NOT_FOUND : 126;
    write_all(2, msg, (size_t)ml);
    char end[96];
    int el = snprintf(end, sizeof end, "exit %d %llu 0 %d\n", code, now_ns(), ml);
    spool_file(calls, span, ".err", &(struct iovec){msg, (size_t)ml}, 1);
    spool_file(calls, span, ".end", &(struct iovec){end, (size_t)el}, 1);
    _exit(code);
  }

  struct stream streams[2] = {
    {out[0], 1, -1, ".out", 0, 1, 1},
    {err[0], 2, -1, ".err", 0, 1, 1},
  };
  static char buf[65536];
  while (streams[0].from >= 0 || streams[1].from >= 0) {
    struct pollfd p[2] = {{streams[0].from, POLLIN, 0}, {streams[1].from, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; i++)
      if (streams[i].from >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
        relay(&streams[i], calls, span, buf, sizeof buf);
  }
  for (int i = 0; i < 2; i++) {
    if (streams[i].from >= 0) close(streams[i].from);
    if (streams[i].spool >= 0) close(streams[i].spool);
  }

  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) { status = EXIT_NOT_FOUND << 8; break; } /* cannot happen: it is our child */
  }
  char end[128];
  int el = WIFSIGNALED(status)
    ? snprintf(end, sizeof end, "signal %d %llu %llu %llu\n", WTERMSIG(status), now_ns(), streams[0].total, streams[1].total)
    : snprintf(end, sizeof end, "exit %d %llu %llu %llu\n", WEXITSTATUS(status), now_ns(), streams[0].total, streams[1].total);
  spool_file(calls, span, ".end", &(struct iovec){end, (size_t)el}, 1);

  if (WIFSIGNALED(status)) {
    /* Die the same death, without a core file of our own. */
    int sig = WTERMSIG(status);
    struct rlimit nocore = {0, 0};
    sigset_t only;
    setrlimit(RLIMIT_CORE, &nocore);
    signal(sig, SIG_DFL);
    sigemptyset(&only);
    sigaddset(&only, sig);
    sigprocmask(SIG_UNBLOCK, &only, NULL);
    raise(sig);
    _exit(128 + sig);
  }
  _exit(WEXITSTATUS(status));
}

/* Command mode: spools name, path, TRACEPARENT and argv as the command will get them, then runs it. */
static _Noreturn void run_command(int calls, const char *span, unsigned long long start, char *real, char **argv) {
  const char *path = real ? real : "";
  if (real && strchr(argv[0] ? argv[0] : "/", '/')) argv[0] = real;
  const char *tp = getenv("TRACEPARENT");
  if (!tp) tp = "";
  size_t argv_len = 0;
  for (char **a = argv; *a; a++) argv_len += strlen(*a) + 1;
  char header[128];
  int hl = snprintf(header, sizeof header, "c1 %llu %zu %zu %zu %zu\n", start, strlen(name), strlen(path), strlen(tp), argv_len);
  char *flat = malloc((size_t)hl + strlen(name) + strlen(path) + strlen(tp) + argv_len);
  if (!flat) exec_untraced(real, argv);
  size_t off = 0;
  const char *parts[] = {header, name, path, tp};
  for (int i = 0; i < 4; i++) { memcpy(flat + off, parts[i], strlen(parts[i])); off += strlen(parts[i]); }
  for (char **a = argv; *a; a++) { size_t l = strlen(*a) + 1; memcpy(flat + off, *a, l); off += l; }
  struct iovec iov = {flat, off};
  if (!real) spool_missing(calls, span, &iov, 1);
  spool_file(calls, span, ".begin", &iov, 1);
  free(flat);
  run_traced(calls, span, real, argv, -1);
}

int main(int argc, char **argv) {
  (void)argc;
  char *fallback_argv[] = {NULL, NULL};
  if (!argv[0]) argv = fallback_argv;
  const char *slash = argv[0] ? strrchr(argv[0], '/') : NULL;
  name = slash ? slash + 1 : (argv[0] ? argv[0] : "");

  /* runDir: the grandparent of <runDir>/shims-<hash>/shim, the binary running now. */
  char self[4096];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  size_t run_len = 0;
  if (sl > 0) {
    self[sl] = '\0';
    char *p = strrchr(self, '/');
    if (p) { *p = '\0'; p = strrchr(self, '/'); }
    if (p) { command_mode = strncmp(p + 1, "cmds-", 5) == 0; *p = '\0'; run_len = (size_t)(p - self); }
  }
  if (command_mode) spool_cap = CMD_SPOOL_CAP;

  /* The search path: CNI_PATH (PATH) without invocation dirs; the first of them names our spool. */
  const char *search = getenv(command_mode ? "PATH" : "CNI_PATH");
  const char *tail = command_mode ? "/cmd" : "/bin";
  char *copy = strdup(search ? search : "");
  size_t ndirs = 0, max = 1;
  for (const char *c = copy ? copy : ""; *c; c++) max += *c == ':';
  char **dirs = calloc(max, sizeof *dirs);
  const char *invocation = NULL;
  if (!copy || !dirs) exec_untraced(NULL, argv);
  /* Go's filepath.SplitList: an empty PATH has no entries (CNI_PATH's "" is the cwd to libcni). */
  for (char *entry = command_mode && !*copy ? NULL : copy, *next; entry; entry = next) {
    next = strchr(entry, ':');
    if (next) *next++ = '\0';
    size_t el = strlen(entry);
    int ours = run_len > 0 && el == run_len + 1 + 16 + 4 && memcmp(entry, self, run_len) == 0 &&
               entry[run_len] == '/' && is_hex(entry + run_len + 1, 16) && memcmp(entry + run_len + 17, tail, 4) == 0;
    if (!ours) dirs[ndirs++] = entry;
    else if (!invocation) { entry[run_len + 17] = '\0'; invocation = entry; }
  }
  char *real = command_mode ? find_command(dirs, ndirs) : find_plugin(dirs, ndirs);

  int calls = -1;
  if (invocation) {
    int inv = open_private_dir(AT_FDCWD, invocation);
    if (inv >= 0) { calls = open_private_dir(inv, "calls"); close(inv); }
  }
  if (calls < 0) exec_untraced(real, argv);

  unsigned char rnd[8];
  char span[17];
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) exec_untraced(real, argv);
  for (int i = 0; i < 8; i++) snprintf(span + 2 * i, 3, "%02x", rnd[i]);
  unsigned long long start = now_ns();
  if (command_mode) run_command(calls, span, start, real, argv);

  size_t env_len = 0;
  for (char **e = environ; *e; e++) env_len += strlen(*e) + 1;
  size_t in_len = 0;
  char *in = real ? read_stdin(&in_len) : NULL;
  if (real && !in) exec_untraced(real, argv); /* out of memory: untraced, with what is left of stdin */
  const char *path = real ? real : "";
  char header[128];
  int hl = snprintf(header, sizeof header, "v1 %llu %zu %zu %zu %zu\n", start, strlen(name), strlen(path), env_len, in_len);
  size_t nenv = 0;
  for (char **e = environ; *e; e++) nenv++;
  struct iovec *iov = calloc(nenv + 4, sizeof *iov);
  if (!iov) exec_untraced(real, argv);
  int iovcnt = 0;
  iov[iovcnt++] = (struct iovec){header, (size_t)hl};
  iov[iovcnt++] = (struct iovec){(void *)name, strlen(name)};
  iov[iovcnt++] = (struct iovec){(void *)path, strlen(path)};
  for (char **e = environ; *e; e++) iov[iovcnt++] = (struct iovec){*e, strlen(*e) + 1};
  if (in_len) iov[iovcnt++] = (struct iovec){in, in_len};
  /* IOV_MAX is 1024: an env larger than that goes in one buffer. */
  char *flat = NULL;
  if (iovcnt > 1024) {
    size_t total = (size_t)hl + strlen(name) + strlen(path) + env_len + in_len, off = 0;
    flat = malloc(total);
    if (!flat) exec_untraced(real, argv);
    for (int i = 0; i < iovcnt; i++) { memcpy(flat + off, iov[i].iov_base, iov[i].iov_len); off += iov[i].iov_len; }
    iov[0] = (struct iovec){flat, total};
    iovcnt = 1;
  }

  if (!real) spool_missing(calls, span, iov, iovcnt);

  /* The spooled stdin is the plugin's stdin; where it cannot be spooled, an anonymous file is. */
  char file[32];
  snprintf(file, sizeof file, "%s.begin", span);
  int stdin_fd = -1;
  int bfd = openat(calls, file, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (bfd >= 0) {
    ssize_t want = 0, got;
    for (int i = 0; i < iovcnt; i++) want += (ssize_t)iov[i].iov_len;
    while ((got = writev(bfd, iov, iovcnt)) < 0 && errno == EINTR) {}
    if (got == want && lseek(bfd, (off_t)(want - (ssize_t)in_len), SEEK_SET) >= 0) stdin_fd = bfd;
    else { close(bfd); unlinkat(calls, file, 0); }
  }
  if (stdin_fd < 0) {
    stdin_fd = memfd_create("cni-trace-stdin", MFD_CLOEXEC);
    if (stdin_fd < 0 || !write_all(stdin_fd, in, in_len) || lseek(stdin_fd, 0, SEEK_SET) != 0) {
      fprintf(stderr, "cni-trace: cannot keep stdin for %s: %s\n", real, strerror(errno));
      _exit(126);
    }
    dup2(stdin_fd, 0);
    close(calls);
    exec_untraced(real, argv);
  }
  free(flat);
  free(in);

  run_traced(calls, span, real, argv, stdin_fd);
}
