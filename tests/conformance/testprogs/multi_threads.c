/* A forked child: parent-thread starts son-thread, which starts grandson-thread; the two
 * started threads call stub(). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

void stub(void) {}

static void rename_to(const char *name)
{
  if (pthread_setname_np(pthread_self(), name)) {
    perror("pthread_setname_np");
    exit(1);
  }
}

static void start_and_join(void *(*work)(void *))
{
  pthread_t thread;
  if (pthread_create(&thread, NULL, work, NULL) || pthread_join(thread, NULL)) {
    perror("pthread");
    exit(1);
  }
}

static void *grandson_work(void *unused)
{
  (void)unused;
  rename_to("grandson-thread");
  stub();
  return NULL;
}

static void *son_work(void *unused)
{
  (void)unused;
  rename_to("son-thread");
  stub();
  start_and_join(grandson_work);
  return NULL;
}

int main(void)
{
  pid_t child = fork();
  if (child == 0) {
    rename_to("parent-thread");
    start_and_join(son_work);
    exit(0);
  }
  waitpid(child, NULL, 0);
  return 0;
}
