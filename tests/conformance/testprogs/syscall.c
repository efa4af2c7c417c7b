/* Makes one system call named on the command line, for tracepoint cases:
 *   syscall nanosleep [NS]    (NS may be written like 1e8; default 100)
 *   syscall openat | open | read
 *   syscall execve PATH [ARGS...]   (an empty environment)
 *   syscall connect HOST PORT */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char *scratch_path(const char *name)
{
  const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  char *path = malloc(strlen(dir) + strlen(name) + 2);
  sprintf(path, "%s/%s", dir, name);
  return path;
}

static int do_nanosleep(int argc, char **argv)
{
  double ns = 100;
  if (argc > 2) {
    char *end;
    ns = strtod(argv[2], &end);
    if (*end != '\0' || ns < 0) {
      fprintf(stderr, "bad duration: %s\n", argv[2]);
      return 1;
    }
    if (ns > 0 && ns < 1)
      ns = 1;
  }
  struct timespec req = { .tv_sec = (time_t)(ns / 1e9) };
  req.tv_nsec = (long)(ns - (double)req.tv_sec * 1e9);
  return syscall(SYS_nanosleep, &req, NULL) ? 1 : 0;
}

static int do_open(int use_open)
{
  char *path = scratch_path("bpftrace_runtime_test_syscall_gen_open_temp");
  int fd = -1;
#ifdef SYS_open
  if (use_open)
    fd = syscall(SYS_open, path, O_CREAT, 0644);
#endif
  if (!use_open)
    fd = syscall(SYS_openat, AT_FDCWD, path, O_CREAT, 0644);
  if (fd < 0) {
    perror("open");
    return 1;
  }
  close(fd);
  unlink(path);
  return 0;
}

static int do_read(void)
{
  char *path = scratch_path("bpftrace_runtime_test_syscall_gen_read_temp");
  int fd = open(path, O_CREAT | O_RDONLY, 0644);
  if (fd < 0) {
    perror("open");
    return 1;
  }
  char buf[8];
  long n = syscall(SYS_read, fd, buf, 0);
  close(fd);
  unlink(path);
  return n < 0 ? 1 : 0;
}

static int do_execve(int argc, char **argv)
{
  if (argc < 3) {
    fprintf(stderr, "execve needs a path\n");
    return 1;
  }
  char *empty_env[] = { NULL };
  /* argv[2..] becomes the new program's argv, NULL-terminated like ours. */
  syscall(SYS_execve, argv[2], &argv[2], empty_env);
  perror("execve");
  return 1;
}

static int do_connect(int argc, char **argv)
{
  if (argc < 4) {
    fprintf(stderr, "connect needs a host and a port\n");
    return 1;
  }
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  if (sock < 0)
    return 1;
  struct sockaddr_in addr = { .sin_family = AF_INET };
  addr.sin_port = htons(atoi(argv[3]));
  addr.sin_addr.s_addr = inet_addr(argv[2]);
  connect(sock, (struct sockaddr *)&addr, sizeof(addr));
  close(sock);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: syscall nanosleep|openat|open|read|execve|connect [args]\n");
    return 1;
  }
  const char *name = argv[1];
  if (!strcmp(name, "nanosleep"))
    return do_nanosleep(argc, argv);
  if (!strcmp(name, "openat"))
    return do_open(0);
  if (!strcmp(name, "open"))
    return do_open(1);
  if (!strcmp(name, "read"))
    return do_read();
  if (!strcmp(name, "execve"))
    return do_execve(argc, argv);
  if (!strcmp(name, "connect"))
    return do_connect(argc, argv);
  fprintf(stderr, "unsupported system call: %s\n", name);
  return 1;
}
