/* Calls a fixed set of functions every 100 ms forever, for uprobe cases. The names, globals,
 * struct layouts and values are what the cases read. */
#include <unistd.h>

int GLOBAL_A = 0x55555555;
int GLOBAL_B = 0x88888888;
int GLOBAL_C = 0x33333333;
char GLOBAL_D = 8;

struct Foo {
  int a;
  char b[10];
  int c[3];
  __int128_t d;
};

struct Bar {
  int x;
  struct Foo *foos[2];
  struct Foo nested;
};

int uprobeFunction1(int *n, char c) { (void)c; return *n; }

struct Foo *uprobeFunction2(struct Foo *foo1, struct Foo *foo2) { (void)foo2; return foo1; }

int uprobeFunctionBranching(int n)
{
  if (n == 1)
    return 1;
  if (n == 2)
    return 2;
  return 3;
}

struct Bar *uprobeFunctionBar(struct Bar *bar) { return bar; }

__uint128_t uprobeFunctionUint128(__uint128_t x, __uint128_t y, __uint128_t z, __uint128_t w)
{
  (void)y;
  (void)z;
  return x + w;
}

int main(void)
{
  for (;;) {
    int n = 13;
    uprobeFunction1(&n, 'x');

    struct Foo first = { .a = 123, .b = "hello", .c = { 1, 2, 3 }, .d = 0x123456789ABCDEF0 };
    struct Foo second = { .a = 456, .b = "world", .c = { 4, 5, 6 }, .d = 0xFEDCBA9876543210 };
    uprobeFunction2(&first, &second);
    uprobeFunctionBranching(n);

    struct Bar bar = { .x = 42, .foos = { &first, &second }, .nested = first };
    uprobeFunctionBar(&bar);

    uprobeFunctionUint128(0x123456789ABCDEF0, 0xEFEFEFEFEFEFEFEF, 0xCDCDCDCDCDCDCDCD,
                          0xABABABABABABABAB);
    usleep(100000);
  }
}
