/* Waits 3 s, calls test2 -> test once and exits at once (symbols resolve after it is gone). */
#include <unistd.h>

__attribute__((noinline)) int test(void) { return 42; }
__attribute__((noinline)) int test2(void) { return test(); }

int main(void)
{
  sleep(3);
  test2();
  return 0;
}
