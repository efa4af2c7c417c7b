/* Passes arrays, structs of arrays and pointer arrays to empty functions once, then exits. */
#include <stdint.h>

struct A {
  int x[4];
  uint8_t y[4];
};

struct B {
  int y[2][2];
};

struct C {
  int *z[4];
};

struct D {
  int x;
  int y[0];
  int z;
};

void test_array(int *a) { (void)a; }
void test_arrays(struct A *a, struct A *d) { (void)a; (void)d; }
void test_struct(struct A *a, struct B *b) { (void)a; (void)b; }
void test_ptr_array(struct C *c) { (void)c; }
void test_variable_array(struct D *d) { (void)d; }

int main(void)
{
  struct A a = { .x = { 1, 2, 3, 4 }, .y = { 0xaa, 0xbb, 0xcc, 0xdd } };
  struct B b = { .y = { { 5, 6 }, { 7, 8 } } };
  test_struct(&a, &b);
  test_array(a.x);

  struct C c = { .z = { &a.x[0], &a.x[1], &a.x[2], &a.x[3] } };
  test_ptr_array(&c);

  struct A d = { .x = { 4, 3, 2, 1 } };
  test_arrays(&a, &d);

  struct D e;
  e.z = 1;
  test_variable_array(&e);
  return 0;
}
