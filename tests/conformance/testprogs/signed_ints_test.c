/* Calls test_signed_ints with a pointer to a zeroed unsigned long. */
#include <stdio.h>

struct x {
  unsigned long x;
};

void test_signed_ints(struct x *ptr) { printf("test %llu\n", (unsigned long long)ptr); }

int main(void)
{
  struct x value = { .x = 0 };
  test_signed_ints(&value);
  return 0;
}
