/* Fills ten struct C {a = index, b = 100}, then calls clear(c, 10). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct C {
  uint32_t a;
  uint64_t b;
};

void clear(struct C *c, size_t size)
{
  for (size_t i = 0; i < size; i++) {
    c[i].a = 0;
    c[i].b = 0;
  }
}

void print(struct C *c, size_t size)
{
  uint32_t sum = 0;
  for (size_t i = 0; i < size; i++)
    sum += c[i].a;
  printf("Sum: %u\n", sum);
}

int main(void)
{
  size_t size = 10;
  struct C *c = malloc(sizeof(*c) * size);
  for (size_t i = 0; i < size; i++) {
    c[i].a = i;
    c[i].b = 100;
  }
  clear(c, size);
  free(c);
  return 0;
}
