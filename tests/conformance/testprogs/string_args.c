/* Calls print("hello", "world") once. */
void print(char *a, char *b) { (void)a; (void)b; }

int main(void)
{
  char a[] = "hello";
  char b[] = "world";
  print(a, b);
  return 0;
}
