/* Like uprobe_loop, in two processes (it forks first). */
#include <stdio.h>
#include <unistd.h>

int uprobeFunction1(int *n, char c) { (void)c; return *n; }

void spin(void)
{
  for (;;) {
    int n = 13;
    uprobeFunction1(&n, 'x');
    usleep(500);
  }
}

int main(void)
{
  if (fork() < 0) {
    perror("fork");
    return 1;
  }
  spin();
}
