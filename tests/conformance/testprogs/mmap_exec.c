/* Maps the file argv[1] executable and calls its first byte as a function. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
  if (argc < 2)
    return 1;
  int fd = open(argv[1], O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st))
    return 1;
  void *code = mmap(NULL, st.st_size, PROT_EXEC, MAP_PRIVATE, fd, 0);
  if (code == MAP_FAILED)
    return 1;
  ((void (*)(void))code)();
  return 0;
}
