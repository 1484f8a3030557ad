/*
 * The smallest Redis client the store bench needs to time Redis itself:
 * one blocking loopback TCP connection (TCP_NODELAY), SET and GET of one
 * key, nothing else. What sesscb's get is compared with.
 */
#ifndef SESSCB_RESP_CLIENT_H
#define SESSCB_RESP_CLIENT_H

#include <stddef.h>

/* A connected socket to 127.0.0.1:port, or -1. */
int resp_connect(int port);

/* SET key value: 0 on +OK, -1 otherwise. */
int resp_set(int fd, const char *key, const unsigned char *value, size_t len);

/* GET key into buf (cap bytes): the value's length, or -1 (error, nil,
 * or longer than cap). */
long resp_get(int fd, const char *key, unsigned char *buf, size_t cap);

#endif
