/* A shared library with one function; the runner installs it without execute permission. */
int fun(int x) { return x + 1; }
