/* A function whose name holds a '$'. */
__attribute__((noinline)) int fn$(void) { return 0; }

int main(void) { return fn$(); }
