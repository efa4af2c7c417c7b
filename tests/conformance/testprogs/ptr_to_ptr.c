/* Calls function with a pointer to a pointer to {a = 123, b = "hello"}. */
struct Foo {
  int a;
  char b[10];
};

int function(struct Foo **f) { return (*f)->a; }

int main(void)
{
  struct Foo foo = { .a = 123, .b = "hello" };
  struct Foo *ptr = &foo;
  function(&ptr);
  return 0;
}
