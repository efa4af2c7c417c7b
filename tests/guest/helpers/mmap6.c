// Maps two anonymous pages with six known arguments: the kernel's
// ksys_mmap_pgoff(addr, len, prot, flags, fd, pgoff) sees them as arg0..arg5 and returns addr.
// Compiled statically by the guest harness; in the guest it is /bin/mmap6 (comm "mmap6").
#include <stdio.h>
#include <sys/mman.h>

int main(void)
{
	void *want = (void *)0x200000000;
	void *got = mmap(want, 8192, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
			 5 * 4096);
	if (got == MAP_FAILED) {
		perror("mmap6: mmap");
		return 1;
	}
	printf("mmap6: mapped at %p\n", got);
	return got == want ? 0 : 2;
}
