#include "redis_conn.h"

#include <stdbool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "validate.h"

size_t lr_redis_addrs(const char *list, const char *who, char ***out)
{
	size_t n = 1;
	for (const char *p = list; *p; p++)
		n += *p == ',';
	char **addrs = lr_xcalloc(n + 1, sizeof *addrs);
	const char *p = list;
	for (size_t i = 0; i < n; i++) {
		size_t len = strcspn(p, ",");
		addrs[i] = lr_xmalloc(len + 1);
		memcpy(addrs[i], p, len);
		addrs[i][len] = '\0';
		p += len + (p[len] == ',');
		bool repeated = false;
		for (size_t j = 0; j < i; j++)
			repeated = repeated || strcmp(addrs[j], addrs[i]) == 0;
		if (len == 0 || repeated) {
			lr_err("%s: LINKREPORT_REDIS/--redis lists an empty or repeated address "
			       "(the value is not shown, it may hold a password)", who);
			lr_redis_addrs_free(addrs);
			*out = NULL;
			return 0;
		}
	}
	*out = addrs;
	return n;
}

void lr_redis_addrs_free(char **addrs)
{
	for (size_t i = 0; addrs && addrs[i]; i++)
		free(addrs[i]);
	free(addrs);
}

redisContext *lr_redis_open_addr(const char *addr, int command_timeout_ms, int *status,
				 char *why, size_t why_size)
{
	*status = EX_UNAVAILABLE;
	const struct timeval connect_timeout = {5, 0};
	const char *const full_addr = addr;
	redisContext *ctx;
	if (strcmp(addr, "unix:") == 0) {
		snprintf(why, why_size, "LINKREPORT_REDIS/--redis: unix: needs a socket path");
		*status = EX_USAGE;
		return NULL;
	}
	if (strncmp(addr, "unix:", 5) == 0) {
		ctx = redisConnectUnixWithTimeout(addr + 5, connect_timeout);
	} else {
		const char *colon = strrchr(addr, ':');
		long long port;
		size_t host_len = colon ? (size_t)(colon - addr) : 0;
		bool bracketed = addr[0] == '[' && host_len > 2 && addr[host_len - 1] == ']';
		/* host names, IPv4 and [IPv6] only: "redis://user:secret@host" must not be
		 * taken for a host, nor echoed, since it may carry a password */
		size_t bad = bracketed ? strspn(addr + 1, "0123456789abcdefABCDEF:.") != host_len - 2
				       : strspn(addr, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
						      "0123456789.-") != host_len;
		if (!colon || colon == addr || bad ||
		    !lr_parse_uint(colon + 1, strlen(colon + 1), 65535, &port) || port == 0) {
			snprintf(why, why_size,
				 "LINKREPORT_REDIS/--redis must be host:port, [ipv6]:port or "
				 "unix:/path, or several of them comma-separated (a redis:// URL is not "
				 "accepted; the value is not shown, it may hold a password)");
			*status = EX_USAGE;
			return NULL;
		}
		if (bracketed) {
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
		snprintf(why, why_size, "out of memory connecting to Redis");
		return NULL;
	}
	if (ctx->err) {
		snprintf(why, why_size, "cannot connect to Redis at %s: %s", full_addr, ctx->errstr);
		redisFree(ctx);
		return NULL;
	}
	struct timeval command_timeout = {command_timeout_ms / 1000,
					  (command_timeout_ms % 1000) * 1000};
	if (redisSetTimeout(ctx, command_timeout) != REDIS_OK) {
		snprintf(why, why_size, "cannot set the Redis command timeout: %s", ctx->errstr);
		redisFree(ctx);
		return NULL;
	}
	return ctx;
}

redisContext *lr_redis_connect_addr(const char *addr, const char *who, int command_timeout_ms,
				    int *status)
{
	char why[512];
	redisContext *ctx = lr_redis_open_addr(addr, command_timeout_ms, status, why, sizeof why);
	if (!ctx)
		lr_err("%s: %s", who, why);
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
