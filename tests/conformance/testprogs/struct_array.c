/* Calls clear(&c) once with an array of ten nested structs. */
#include <stdint.h>

struct T {
  uint32_t a;
  uint32_t b[2];
};

struct W {
  uint32_t a;
  struct T t;
};

struct C {
  uint32_t a;
  void *b;
  struct W w[10];
};

void clear(struct C *c)
{
  for (int i = 0; i < 10; i++)
    c->w[i].t.a = 0;
}

int main(void)
{
  struct C c;
  c.a = 0x55555555;
  c.b = (void *)0x55555555;
  for (int i = 0; i < 10; i++) {
    c.w[i].a = 100 + i;
    c.w[i].t.a = i;
    c.w[i].t.b[0] = 100 - i;
    c.w[i].t.b[1] = 100 - 2 * i;
  }
  clear(&c);
  return 0;
}
