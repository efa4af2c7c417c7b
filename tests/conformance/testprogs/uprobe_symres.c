/* Calls test2 -> test once, then stays alive 5 s (symbols resolve while it runs). */
#include <unistd.h>

__attribute__((noinline)) int test(void) { return 42; }
__attribute__((noinline)) int test2(void) { return test(); }

int main(void)
{
  test2();
  sleep(5);
  return 0;
}
