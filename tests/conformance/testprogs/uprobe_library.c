/* Reads an int from /dev/zero through libc's stdio (cases probe libc functions). */
#include <stdio.h>

int main(void)
{
  int value;
  FILE *f = fopen("/dev/zero", "r");
  if (!f)
    return 1;
  fread(&value, sizeof(value), 1, f);
  fclose(f);
  return 0;
}
