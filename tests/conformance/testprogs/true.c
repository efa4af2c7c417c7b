/* Exits with status 0 (cases run it as a short-lived process to trace). */
int main(void) { return 0; }
