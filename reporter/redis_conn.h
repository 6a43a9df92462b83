#ifndef LR_REDIS_CONN_H
#define LR_REDIS_CONN_H

#include <hiredis/hiredis.h>

#include "config.h"

/* Connects to one Redis server ("host:port", "[v6]:port" or "unix:/path") within 5 s and
 * sets the per-command timeout. On failure sets *status (64 for a malformed address, 69
 * otherwise) and returns NULL: lr_redis_open_addr puts the reason in why[],
 * lr_redis_connect_addr prints it. */
redisContext *lr_redis_open_addr(const char *addr, int command_timeout_ms, int *status,
				 char *why, size_t why_size);
redisContext *lr_redis_connect_addr(const char *addr, const char *who, int command_timeout_ms,
				    int *status);

/* LINKREPORT_REDIS/--redis may list several servers, comma-separated (one per edge
 * region). Sets *out to a NULL-terminated array of the addresses and returns how many;
 * returns 0 (after printing) when one is empty or repeated. Free with
 * lr_redis_addrs_free. */
size_t lr_redis_addrs(const char *list, const char *who, char ***out);
void lr_redis_addrs_free(char **addrs);

/* Describes why a command failed (I/O error or error reply) into buf. */
void lr_redis_describe(redisContext *ctx, const redisReply *reply, char *buf, size_t size);

/* Prints why a command failed (I/O error or error reply). Frees reply. */
void lr_redis_report(const char *who, const char *what, redisContext *ctx, redisReply *reply);

#endif
