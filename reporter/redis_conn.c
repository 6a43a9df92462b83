#include "redis_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "validate.h"

redisContext *lr_redis_connect(const struct lr_config *cfg, const char *who,
			       int command_timeout_ms, int *status)
{
	*status = EX_UNAVAILABLE;
	const struct timeval connect_timeout = {5, 0};
	const char *addr = cfg->redis;
	redisContext *ctx;
	if (strncmp(addr, "unix:", 5) == 0) {
		ctx = redisConnectUnixWithTimeout(addr + 5, connect_timeout);
	} else {
		const char *colon = strrchr(addr, ':');
		long long port;
		if (!colon || colon == addr || !lr_parse_uint(colon + 1, strlen(colon + 1), 65535, &port) ||
		    port == 0) {
			lr_err("%s: LINKREPORT_REDIS/--redis must be host:port or unix:/path, not '%s'", who,
			       addr);
			*status = EX_USAGE;
			return NULL;
		}
		size_t host_len = (size_t)(colon - addr);
		if (addr[0] == '[' && host_len > 2 && addr[host_len - 1] == ']') {
			addr++;
			host_len -= 2;
		}
		char *host = lr_xmalloc(host_len + 1);
		memcpy(host, addr, host_len);
		host[host_len] = '\0';
		ctx = redisConnectWithTimeout(host, (int)port, connect_timeout);
		free(host);
	}
	if (!ctx) {
		lr_err("%s: out of memory connecting to Redis", who);
		return NULL;
	}
	if (ctx->err) {
		lr_err("%s: cannot connect to Redis at %s: %s", who, cfg->redis, ctx->errstr);
		redisFree(ctx);
		return NULL;
	}
	struct timeval command_timeout = {command_timeout_ms / 1000,
					  (command_timeout_ms % 1000) * 1000};
	if (redisSetTimeout(ctx, command_timeout) != REDIS_OK) {
		lr_err("%s: cannot set the Redis command timeout: %s", who, ctx->errstr);
		redisFree(ctx);
		return NULL;
	}
	return ctx;
}

void lr_redis_describe(redisContext *ctx, const redisReply *reply, char *buf, size_t size)
{
	if (reply && reply->type == REDIS_REPLY_ERROR)
		snprintf(buf, size, "%s", reply->str);
	else if (ctx->err)
		snprintf(buf, size, "%s", ctx->errstr);
	else
		snprintf(buf, size, "unexpected reply");
}

void lr_redis_report(const char *who, const char *what, redisContext *ctx, redisReply *reply)
{
	char why[256];
	lr_redis_describe(ctx, reply, why, sizeof why);
	lr_err("%s: Redis %s failed: %s", who, what, why);
	if (reply)
		freeReplyObject(reply);
}
