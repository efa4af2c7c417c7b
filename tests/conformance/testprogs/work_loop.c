/* Calls doWork(&n, i) every 10 us forever. */
#include <unistd.h>

int doWork(int *n, int o) { return *n += o; }

void spin(void)
{
  for (int i = 0;; i++) {
    int n = 1;
    doWork(&n, i);
    usleep(10);
  }
}

int main(void) { spin(); }
