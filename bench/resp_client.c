/* See resp_client.h. */
#include "resp_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int resp_connect(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0
        || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads into buf until it holds a whole reply: a status/error line, or a
 * bulk string. Returns the bytes read, or -1. */
static long read_reply(int fd, unsigned char *buf, size_t cap)
{
    size_t have = 0;
    long want = -1;
    while (want < 0 || have < (size_t)want) {
        ssize_t r = recv(fd, buf + have, cap - have, 0);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        unsigned char *eol = memchr(buf, '\n', have);
        if (want < 0 && eol != NULL) {
            long head = eol - buf + 1, len = buf[0] == '$' ? strtol((char *)buf + 1, NULL, 10) : 0;
            want = head + (len > 0 ? len + 2 : 0);
            if ((size_t)want > cap)
                return -1;
        }
        if (have == cap && (want < 0 || have < (size_t)want))
            return -1;
    }
    return (long)have;
}

static size_t put_bulk(unsigned char *out, const void *p, size_t n)
{
    size_t h = (size_t)sprintf((char *)out, "$%zu\r\n", n);
    memcpy(out + h, p, n);
    memcpy(out + h + n, "\r\n", 2);
    return h + n + 2;
}

int resp_set(int fd, const char *key, const unsigned char *value, size_t len)
{
    unsigned char *cmd = malloc(len + strlen(key) + 64), reply[64];
    size_t n = (size_t)sprintf((char *)cmd, "*3\r\n");
    int ok;
    if (cmd == NULL)
        return -1;
    n += put_bulk(cmd + n, "SET", 3);
    n += put_bulk(cmd + n, key, strlen(key));
    n += put_bulk(cmd + n, value, len);
    ok = send_all(fd, cmd, n) == 0 && read_reply(fd, reply, sizeof(reply)) > 0 && memcmp(reply, "+OK", 3) == 0;
    free(cmd);
    return ok ? 0 : -1;
}

long resp_get(int fd, const char *key, unsigned char *buf, size_t cap)
{
    unsigned char cmd[256];
    size_t n = (size_t)sprintf((char *)cmd, "*2\r\n");
    long got, len;
    char *eol;
    if (strlen(key) > 200)
        return -1;
    n += put_bulk(cmd + n, "GET", 3);
    n += put_bulk(cmd + n, key, strlen(key));
    if (send_all(fd, cmd, n) != 0 || (got = read_reply(fd, buf, cap)) < 0 || buf[0] != '$')
        return -1;
    len = strtol((char *)buf + 1, &eol, 10);
    return len < 0 ? -1 : len;
}
