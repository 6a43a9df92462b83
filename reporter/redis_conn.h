#ifndef LR_REDIS_CONN_H
#define LR_REDIS_CONN_H

#include <hiredis/hiredis.h>

#include "config.h"

/* Connects to cfg->redis ("host:port", "[v6]:port" or "unix:/path") within 5 s and sets
 * the per-command timeout. On failure prints one line, sets *status (64 for a malformed
 * address, 69 otherwise) and returns NULL. */
redisContext *lr_redis_connect(const struct lr_config *cfg, const char *who,
			       int command_timeout_ms, int *status);

/* The same without printing: the reason goes to why[] (for callers that say more). */
redisContext *lr_redis_open(const struct lr_config *cfg, int command_timeout_ms, int *status,
			    char *why, size_t why_size);

/* Describes why a command failed (I/O error or error reply) into buf. */
void lr_redis_describe(redisContext *ctx, const redisReply *reply, char *buf, size_t size);

/* Prints why a command failed (I/O error or error reply). Frees reply. */
void lr_redis_report(const char *who, const char *what, redisContext *ctx, redisReply *reply);

#endif
