// Drives tracepoint:syscalls:sys_enter_getpid for the benchmark.
//
//   getpid_loop N    makes N getpid calls in chunks, each chunk paired with as many getppid calls
//                    (a syscall of about the same cost that nobody traces), and prints the CPU time
//                    per call in ns: median over chunks of getpid, of getppid, and of the paired
//                    difference getpid - getppid. Pairing short chunks cancels the drift in machine
//                    speed when other work shares the CPUs; the median shrugs off bursts.
//   getpid_loop spin calls getpid until killed (the background load for the time-to-attach figure)
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 5000

static double cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static double chunk_ns(long nr) {
    double start = cpu_ns();
    for (int i = 0; i < CHUNK; i++)
        syscall(nr);
    return (cpu_ns() - start) / CHUNK;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *xs, long n) {
    qsort(xs, n, sizeof(double), compare);
    return n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: getpid_loop N | spin\n");
        return 2;
    }
    if (strcmp(argv[1], "spin") == 0) {
        for (;;)
            syscall(SYS_getpid);
    }
    long chunks = atol(argv[1]) / CHUNK;
    if (chunks < 1)
        chunks = 1;
    double *traced = malloc(chunks * sizeof(double));
    double *untraced = malloc(chunks * sizeof(double));
    double *diff = malloc(chunks * sizeof(double));
    for (long c = 0; c < chunks; c++) {
        // Alternate which goes first so neither side always gets the warmer cache.
        if (c % 2) {
            traced[c] = chunk_ns(SYS_getpid);
            untraced[c] = chunk_ns(SYS_getppid);
        } else {
            untraced[c] = chunk_ns(SYS_getppid);
            traced[c] = chunk_ns(SYS_getpid);
        }
        diff[c] = traced[c] - untraced[c];
    }
    printf("%.2f %.2f %.2f\n", median(traced, chunks), median(untraced, chunks),
           median(diff, chunks));
    return 0;
}
