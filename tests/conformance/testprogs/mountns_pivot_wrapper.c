/* mountns_pivot_wrapper PROG: like mountns_wrapper, but the new namespace's root is pivoted to
 * the test program directory (as container runtimes do), with the system library directories
 * bound in so that dynamically linked programs still run. */
#define _GNU_SOURCE
#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void die(const char *what)
{
  perror(what);
  exit(1);
}

static void make_dirs(const char *path)
{
  char *copy = strdup(path);
  char *parent = dirname(copy);
  if (strlen(parent) > 1)
    make_dirs(parent);
  if (mkdir(path, 0770) && errno != EEXIST)
    die("mkdir");
  free(copy);
}

int main(int argc, char **argv)
{
  const char *root = "/tmp/rbt-conformance-mountns-pivot";
  char self[PATH_MAX], target[PATH_MAX], exe[PATH_MAX];
  if (argc != 2)
    die("usage: mountns_pivot_wrapper PROG");
  if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
    die("private mount namespace");
  if (mkdir(root, 0770) && errno != EEXIST)
    die("mkdir");
  ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (len < 0)
    die("readlink");
  self[len] = '\0';
  if (mount(dirname(self), root, NULL, MS_BIND, NULL))
    die("bind mount");

  glob_t libs;
  glob("/lib*", GLOB_NOSORT, NULL, &libs);
  glob("/usr/lib*", GLOB_NOSORT | GLOB_APPEND, NULL, &libs);
  for (size_t i = 0; i < libs.gl_pathc; i++) {
    snprintf(target, sizeof(target), "%s%s", root, libs.gl_pathv[i]);
    make_dirs(target);
    if (mount(libs.gl_pathv[i], target, NULL, MS_BIND, NULL))
      die("bind mount of a library directory");
  }

  snprintf(target, sizeof(target), "%s/old", root);
  if (mkdir(target, 0770) && errno != EEXIST)
    die("mkdir old root");
  if (syscall(SYS_pivot_root, root, target) || chdir("/"))
    die("pivot_root");
  snprintf(exe, sizeof(exe), "/%s", argv[1]);
  char *args[] = { exe, NULL };
  execv(exe, args);
  die("execv");
}
