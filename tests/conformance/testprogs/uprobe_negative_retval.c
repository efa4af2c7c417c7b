/* Calls function1(x) for x from -120 to 100; exits with -100. */
__attribute__((noinline)) int function1(int x) { return x; }

int main(void)
{
  for (int x = -120; x <= 100; x++)
    function1(x);
  return -100;
}
