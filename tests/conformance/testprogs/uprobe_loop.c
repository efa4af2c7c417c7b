/* Calls uprobeFunction1 every 0.5 ms forever. */
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

int main(void) { spin(); }
