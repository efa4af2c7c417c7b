/* One TCP connection over loopback, both ends in this process: listen on an ephemeral port,
 * connect, accept, send a byte each way, close. With an argument, both sockets use that
 * congestion control (TCP_CONGESTION), whose module must be loaded. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int congestion(int fd, const char *name) {
    if (name && setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, strlen(name)) < 0) {
        perror("setsockopt TCP_CONGESTION");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *cc = argc > 1 ? argv[1] : NULL;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 || congestion(lfd, cc) || bind(lfd, (struct sockaddr *)&addr, sizeof addr) ||
        listen(lfd, 1) || getsockname(lfd, (struct sockaddr *)&addr, &len)) {
        perror("listen");
        return 1;
    }
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    if (cfd < 0 || congestion(cfd, cc) || connect(cfd, (struct sockaddr *)&addr, sizeof addr)) {
        perror("connect");
        return 1;
    }
    int sfd = accept(lfd, NULL, NULL);
    char byte = 'x';
    if (sfd < 0 || write(cfd, &byte, 1) != 1 || read(sfd, &byte, 1) != 1 ||
        write(sfd, &byte, 1) != 1 || read(cfd, &byte, 1) != 1) {
        perror("exchange");
        return 1;
    }
    close(cfd);
    close(sfd);
    close(lfd);
    printf("tcppair: port %d\n", ntohs(addr.sin_port));
    return 0;
}
