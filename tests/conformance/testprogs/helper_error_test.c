/* Calls test_helper_error with a NULL pointer (reading through it fails in the probe). */
#include <stdio.h>

struct foo {
  int a;
};

void test_helper_error(struct foo *ptr) { printf("test %llu\n", (unsigned long long)ptr); }

int main(void)
{
  test_helper_error(NULL);
  return 0;
}
