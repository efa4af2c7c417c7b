/* mountns_wrapper PROG: runs the test program PROG (beside this binary) from a directory that
 * exists only in a new private mount namespace, so a tracer outside must reach it through
 * /proc/PID/root. */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *what)
{
  perror(what);
  return 1;
}

int main(int argc, char **argv)
{
  const char *hidden = "/tmp/rbt-conformance-mountns";
  char self[PATH_MAX], exe[PATH_MAX];
  if (argc != 2)
    return fail("usage: mountns_wrapper PROG");
  if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
    return fail("private mount namespace");
  if (mkdir(hidden, 0770) && errno != EEXIST)
    return fail("mkdir");
  ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (len < 0)
    return fail("readlink");
  self[len] = '\0';
  if (mount(dirname(self), hidden, NULL, MS_BIND, NULL))
    return fail("bind mount");
  snprintf(exe, sizeof(exe), "%s/%s", hidden, argv[1]);
  char *args[] = { exe, NULL };
  execv(exe, args);
  return fail("execv");
}
