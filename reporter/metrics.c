/* metrics: the daemon's counters and gauges, and the thread serving GET /metrics. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "redis_conn.h"
#include "util.h"

struct metric_info {
	const char *name, *help;
};

static const struct metric_info counter_info[LR_N_COUNTERS] = {
	[LR_M_CLICKS_STORED] = {"linkreport_clicks_stored_total",
				"Clicks stored in PostgreSQL (new rows)."},
	[LR_M_BATCHES] = {"linkreport_batches_total", "Batches committed and acknowledged."},
	[LR_M_DUPLICATES] = {"linkreport_duplicates_skipped_total",
			     "Valid records whose click_id was stored already."},
	[LR_M_DEAD_LETTERS] = {"linkreport_dead_letters_total",
			       "Records (or unreadable entries) stored as dead letters."},
	[LR_M_TRIMMED_BEFORE_READ] = {"linkreport_trimmed_before_read_total",
				      "Pending entries gone from the stream before they were read "
				      "(dead letters 'entry no longer in the stream')."},
	[LR_M_STREAM_TRIMMED] = {"linkreport_stream_trimmed_total",
				 "Entries the drain trimmed from the stream after every group "
				 "stored them."},
	[LR_M_REDIS_ERRORS] = {"linkreport_redis_errors_total",
			       "Drain passes that failed on Redis (each followed by a retry)."},
	[LR_M_PG_ERRORS] = {"linkreport_postgres_errors_total",
			    "Drain passes that failed on PostgreSQL (each followed by a retry)."},
	[LR_M_REPORTS_SENT] = {"linkreport_reports_sent_total",
			       "Report runs sent to every recipient."},
	[LR_M_REPORTS_FAILED] = {"linkreport_reports_failed_total",
				 "Report run attempts with a failed delivery."},
	[LR_M_EMAILS_SENT] = {"linkreport_emails_sent_total", "Report emails accepted by SMTP."},
	[LR_M_EMAILS_FAILED] = {"linkreport_emails_failed_total", "Report emails that failed."},
	[LR_M_HTTP_REFUSED] = {"linkreport_metrics_http_errors_total",
			       "Requests to this endpoint answered with an error status."},
};

static const struct metric_info gauge_info[LR_N_GAUGES] = {
	[LR_G_LAST_BATCH_MS] = {"linkreport_last_batch_timestamp_seconds",
				"Unix time of the last committed batch (0: none yet)."},
	[LR_G_REDIS_UP] = {"linkreport_redis_up", "1 when the drain's last Redis use worked."},
	[LR_G_PG_UP] = {"linkreport_postgres_up",
			"1 when the drain's last PostgreSQL use worked."},
};

static _Atomic long long counters[LR_N_COUNTERS];
static _Atomic long long gauges[LR_N_GAUGES];

void lr_metrics_add(enum lr_counter counter, long long n)
{
	atomic_fetch_add_explicit(&counters[counter], n, memory_order_relaxed);
}

void lr_metrics_set(enum lr_gauge gauge, long long value)
{
	atomic_store_explicit(&gauges[gauge], value, memory_order_relaxed);
}

long long lr_metrics_gauge(enum lr_gauge gauge)
{
	return atomic_load_explicit(&gauges[gauge], memory_order_relaxed);
}

/* A growing text buffer. */
struct text {
	char *s;
	size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		t->cap = t->cap * 2 + (n > 0 ? (size_t)n : 0) + 256;
		t->s = lr_xrealloc(t->s, t->cap);
	}
}

/* A label value: backslash, double quote and newline escaped, as the format says. */
static void put_label(struct text *t, const char *value)
{
	for (const char *p = value; *p; p++) {
		if (*p == '\\')
			put(t, "\\\\");
		else if (*p == '"')
			put(t, "\\\"");
		else if (*p == '\n')
			put(t, "\\n");
		else
			put(t, "%c", *p);
	}
}

/* The metrics thread's own Redis connections (one per listed server), for the stream
 * gauges; made on the first scrape, a failed one is made afresh on the next. */
static char **info_addrs;
static redisContext **info_redis;
static size_t n_info;

static void close_info(void)
{
	for (size_t i = 0; i < n_info; i++)
		if (info_redis[i])
			redisFree(info_redis[i]);
	free(info_redis);
	lr_redis_addrs_free(info_addrs);
	info_redis = NULL;
	info_addrs = NULL;
	n_info = 0;
}

static long long reply_int(const redisReply *map, const char *key, bool *found)
{
	*found = false;
	for (size_t i = 0; map->type == REDIS_REPLY_ARRAY && i + 1 < map->elements; i += 2) {
		const redisReply *k = map->element[i], *v = map->element[i + 1];
		if (k->type == REDIS_REPLY_STRING && strcmp(k->str, key) == 0 &&
		    v->type == REDIS_REPLY_INTEGER) {
			*found = true;
			return v->integer;
		}
	}
	return 0;
}

/* The labels of a stream series, without the closing brace: the stream, and the server
 * when several are listed. */
static void put_stream_labels(struct text *t, const struct lr_config *cfg, size_t server)
{
	put(t, "{stream=\"");
	put_label(t, cfg->stream);
	if (n_info > 1) {
		put(t, "\",redis=\"");
		put_label(t, info_addrs[server]);
	}
	put(t, "\"");
}

/* Length of the stream, pending and lag per group: one XLEN and one XINFO GROUPS per
 * server. With one server the series carry the stream label only. */
static void render_stream(struct text *t, const struct lr_config *cfg)
{
	if (!info_addrs) {
		n_info = lr_redis_addrs(cfg->redis, "metrics", &info_addrs);
		info_redis = lr_xcalloc(n_info ? n_info : 1, sizeof *info_redis);
	}
	redisReply **len = lr_xcalloc(n_info ? n_info : 1, sizeof *len);
	redisReply **groups = lr_xcalloc(n_info ? n_info : 1, sizeof *groups);
	bool all_ok = n_info > 0;
	for (size_t i = 0; i < n_info; i++) {
		int status;
		char why[512];
		if (!info_redis[i])
			info_redis[i] = lr_redis_open_addr(info_addrs[i], 1000, &status, why, sizeof why);
		if (info_redis[i])
			len[i] = redisCommand(info_redis[i], "XLEN %s", cfg->stream);
		if (len[i])
			groups[i] = redisCommand(info_redis[i], "XINFO GROUPS %s", cfg->stream);
		if (!len[i] || len[i]->type != REDIS_REPLY_INTEGER) {
			all_ok = false;
			if (info_redis[i]) {
				redisFree(info_redis[i]); /* connect afresh next time */
				info_redis[i] = NULL;
			}
			freeReplyObject(len[i]);
			len[i] = NULL;
		}
	}
	put(t, "# HELP linkreport_stream_info_ok 1 when this scrape could read the stream's state "
	       "from Redis (every listed server).\n# TYPE linkreport_stream_info_ok gauge\n"
	       "linkreport_stream_info_ok %d\n",
	    all_ok);
	put(t, "# HELP linkreport_stream_length Entries in the stream.\n"
	       "# TYPE linkreport_stream_length gauge\n");
	for (size_t i = 0; i < n_info; i++) {
		if (!len[i])
			continue;
		put(t, "linkreport_stream_length");
		put_stream_labels(t, cfg, i);
		put(t, "} %lld\n", len[i]->integer);
	}
	static const char *const fields[] = {"pending", "lag"};
	static const char *const helps[] = {
		"Entries a consumer group has read but not acknowledged.",
		"Entries a consumer group has not read yet."};
	for (int f = 0; f < 2; f++) {
		put(t, "# HELP linkreport_stream_group_%s %s\n# TYPE linkreport_stream_group_%s gauge\n",
		    fields[f], helps[f], fields[f]);
		for (size_t s = 0; s < n_info; s++) {
			if (!len[s] || !groups[s] || groups[s]->type != REDIS_REPLY_ARRAY)
				continue;
			for (size_t g = 0; g < groups[s]->elements; g++) {
				const redisReply *info = groups[s]->element[g];
				const char *name = NULL;
				for (size_t i = 0; info->type == REDIS_REPLY_ARRAY && i + 1 < info->elements;
				     i += 2)
					if (info->element[i]->type == REDIS_REPLY_STRING &&
					    strcmp(info->element[i]->str, "name") == 0 &&
					    info->element[i + 1]->type == REDIS_REPLY_STRING)
						name = info->element[i + 1]->str;
				bool found;
				long long v = reply_int(info, fields[f], &found);
				if (!name || !found)
					continue; /* lag is nil when Redis cannot tell */
				put(t, "linkreport_stream_group_%s", fields[f]);
				put_stream_labels(t, cfg, s);
				put(t, ",group=\"");
				put_label(t, name);
				put(t, "\"} %lld\n", v);
			}
		}
	}
	for (size_t i = 0; i < n_info; i++) {
		freeReplyObject(len[i]);
		freeReplyObject(groups[i]);
	}
	free(len);
	free(groups);
}

char *lr_metrics_render(const struct lr_config *cfg)
{
	struct text t = {0};
	for (int c = 0; c < LR_N_COUNTERS; c++)
		put(&t, "# HELP %s %s\n# TYPE %s counter\n%s %lld\n", counter_info[c].name,
		    counter_info[c].help, counter_info[c].name, counter_info[c].name,
		    atomic_load_explicit(&counters[c], memory_order_relaxed));
	for (int g = 0; g < LR_N_GAUGES; g++) {
		long long v = lr_metrics_gauge((enum lr_gauge)g);
		put(&t, "# HELP %s %s\n# TYPE %s gauge\n", gauge_info[g].name, gauge_info[g].help,
		    gauge_info[g].name);
		if (g == LR_G_LAST_BATCH_MS)
			put(&t, "%s %lld.%03lld\n", gauge_info[g].name, v / 1000, v % 1000);
		else
			put(&t, "%s %lld\n", gauge_info[g].name, v);
	}
	render_stream(&t, cfg);
	return t.s;
}

/* ---- the HTTP side: few connections, small requests, short deadlines ---- */

#define MAX_CONNS 8
#define REQUEST_MAX 8192
#define READ_TIMEOUT_MS 5000  /* the whole request, from accept */
#define WRITE_TIMEOUT_MS 5000
#define LINGER_MS 2000        /* reading what a refused client still sends, then close */
#define LINGER_MAX (1 << 20)

enum conn_state { C_FREE, C_READ, C_WRITE, C_LINGER };

struct conn {
	enum conn_state state;
	int fd;
	char req[REQUEST_MAX];
	size_t len;
	char *out;
	size_t out_len, out_off;
	size_t discarded;
	long long deadline;
};

static struct {
	const struct lr_config *cfg;
	int listen_fd;
	int wake[2];
	pthread_t thread;
	bool running;
	struct conn conns[MAX_CONNS];
} server = {.listen_fd = -1, .wake = {-1, -1}};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->state = C_FREE;
}

static void respond(struct conn *c, int status, const char *reason, const char *body,
		    bool head_only)
{
	const char *type = status == 200 ? "text/plain; version=0.0.4; charset=utf-8"
					 : "text/plain; charset=utf-8";
	struct text t = {0};
	put(&t, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
		"Connection: close\r\n\r\n%s",
	    status, reason, type, strlen(body), status == 405 ? "Allow: GET, HEAD\r\n" : "",
	    head_only ? "" : body);
	if (status != 200)
		lr_metrics_add(LR_M_HTTP_REFUSED, 1);
	c->out = t.s;
	c->out_len = t.len;
	c->out_off = 0;
	c->state = C_WRITE;
	c->deadline = now_ms() + WRITE_TIMEOUT_MS;
}

static void refuse(struct conn *c, int status, const char *reason)
{
	char body[64];
	snprintf(body, sizeof body, "%d %s\n", status, reason);
	respond(c, status, reason, body, false);
}

/* Looks at what arrived; answers once the request is complete or clearly wrong. */
static void examine(struct conn *c)
{
	const char *nl = memchr(c->req, '\n', c->len);
	size_t line_len = nl ? (size_t)(nl - c->req) : c->len;
	/* the request line is printable ASCII: anything else is not HTTP */
	for (size_t i = 0; i < line_len; i++) {
		unsigned char ch = (unsigned char)c->req[i];
		if ((ch < 0x20 && !(ch == '\r' && i + 1 == line_len)) || ch >= 0x7f) {
			refuse(c, 400, "Bad Request");
			return;
		}
	}
	if (!nl) {
		if (c->len == sizeof c->req)
			refuse(c, 414, "URI Too Long");
		return;
	}
	char method[16], target[REQUEST_MAX], version[16];
	char line[REQUEST_MAX];
	memcpy(line, c->req, line_len);
	line[line_len] = '\0';
	if (line_len && line[line_len - 1] == '\r')
		line[line_len - 1] = '\0';
	char extra;
	if (sscanf(line, "%15[A-Z] %8191[^ ] %15[^ ]%c", method, target, version, &extra) != 3 ||
	    target[0] != '/' || (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0)) {
		refuse(c, 400, "Bad Request");
		return;
	}
	/* the headers end with an empty line; they are not needed, only awaited */
	bool complete = false;
	for (size_t i = line_len; i + 1 < c->len && !complete; i++)
		complete = c->req[i] == '\n' &&
			   (c->req[i + 1] == '\n' ||
			    (c->req[i + 1] == '\r' && i + 2 < c->len && c->req[i + 2] == '\n'));
	if (!complete) {
		if (c->len == sizeof c->req)
			refuse(c, 431, "Request Header Fields Too Large");
		return;
	}
	bool head = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !head) {
		refuse(c, 405, "Method Not Allowed");
		return;
	}
	target[strcspn(target, "?")] = '\0';
	if (strcmp(target, "/metrics") != 0) {
		refuse(c, 404, "Not Found");
		return;
	}
	char *body = lr_metrics_render(server.cfg);
	respond(c, 200, "OK", body, head);
	free(body);
}

static void on_event(struct conn *c, short revents)
{
	if (c->state == C_READ && (revents & (POLLIN | POLLHUP | POLLERR))) {
		ssize_t n = recv(c->fd, c->req + c->len, sizeof c->req - c->len, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(c);
			return;
		}
		if (n > 0) {
			c->len += (size_t)n;
			examine(c);
		}
	}
	if (c->state == C_WRITE) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_close(c);
			return;
		}
		if (n > 0)
			c->out_off += (size_t)n;
		if (c->out_off == c->out_len) {
			/* Read what the client still sends before closing, so the kernel does not
			 * answer it with a reset that could destroy our reply in transit. */
			shutdown(c->fd, SHUT_WR);
			c->state = C_LINGER;
			c->deadline = now_ms() + LINGER_MS;
		}
		return;
	}
	if (c->state == C_LINGER && (revents & (POLLIN | POLLHUP | POLLERR))) {
		char sink[4096];
		ssize_t n = recv(c->fd, sink, sizeof sink, 0);
		if (n > 0)
			c->discarded += (size_t)n;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
		    c->discarded > LINGER_MAX)
			conn_close(c);
	}
}

static void accept_clients(void)
{
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &server.conns[i];
		if (c->state != C_FREE)
			continue;
		int fd = accept4(server.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		c->fd = fd;
		c->len = 0;
		c->discarded = 0;
		c->state = C_READ;
		c->deadline = now_ms() + READ_TIMEOUT_MS;
	}
}

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd fds[MAX_CONNS + 2];
		int map[MAX_CONNS + 2];
		int n = 0, used = 0;
		long long now = now_ms(), timeout = 1000;
		fds[n++] = (struct pollfd){.fd = server.wake[0], .events = POLLIN};
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &server.conns[i];
			if (c->state == C_FREE)
				continue;
			used++;
			map[n] = i;
			fds[n++] = (struct pollfd){.fd = c->fd,
						   .events = c->state == C_WRITE ? POLLOUT : POLLIN};
			if (c->deadline - now < timeout)
				timeout = c->deadline - now > 0 ? c->deadline - now : 0;
		}
		/* full: new clients wait in the kernel's backlog until a slot frees */
		int listen_at = -1;
		if (used < MAX_CONNS) {
			listen_at = n;
			fds[n++] = (struct pollfd){.fd = server.listen_fd, .events = POLLIN};
		}
		if (poll(fds, (nfds_t)n, (int)timeout) < 0 && errno != EINTR)
			break;
		if (fds[0].revents)
			break;
		for (int k = 1; k < n; k++)
			if (k != listen_at && fds[k].revents)
				on_event(&server.conns[map[k]], fds[k].revents);
		if (listen_at >= 0 && (fds[listen_at].revents & POLLIN))
			accept_clients();
		now = now_ms();
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &server.conns[i];
			if (c->state == C_FREE || c->deadline > now)
				continue;
			if (c->state == C_READ)
				refuse(c, 408, "Request Timeout");
			else
				conn_close(c);
		}
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (server.conns[i].state != C_FREE)
			conn_close(&server.conns[i]);
	close_info();
	return NULL;
}

static int bind_listener(const char *who, const char *listen_at)
{
	char host[128] = "127.0.0.1";
	const char *colon = strrchr(listen_at, ':');
	const char *port = colon ? colon + 1 : listen_at;
	if (colon) {
		size_t len = (size_t)(colon - listen_at);
		const char *h = listen_at;
		if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
			h++;
			len -= 2;
		}
		snprintf(host, sizeof host, "%.*s", (int)len, h);
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		lr_err("%s: --metrics-listen/LINKREPORT_METRICS_LISTEN '%s': %s", who, listen_at,
		       gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
		lr_err("%s: cannot listen for metrics on %s: %s", who, listen_at, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

int lr_metrics_start(const struct lr_config *cfg, const char *who, const char *listen_at)
{
	server.cfg = cfg;
	server.listen_fd = bind_listener(who, listen_at);
	if (server.listen_fd < 0)
		return EX_USAGE;
	if (pipe2(server.wake, O_CLOEXEC) != 0) {
		lr_err("%s: cannot start the metrics thread: %s", who, strerror(errno));
		close(server.listen_fd);
		return EX_SOFTWARE;
	}
	/* Signals go to the drain's thread, whose sleeps and reads they must interrupt. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&server.thread, NULL, serve, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		lr_err("%s: cannot start the metrics thread: %s", who, strerror(rc));
		close(server.listen_fd);
		close(server.wake[0]);
		close(server.wake[1]);
		return EX_SOFTWARE;
	}
	server.running = true;
	return EX_OK;
}

void lr_metrics_stop(void)
{
	if (!server.running)
		return;
	ssize_t w = write(server.wake[1], "x", 1);
	(void)w;
	pthread_join(server.thread, NULL);
	close(server.listen_fd);
	close(server.wake[0]);
	close(server.wake[1]);
	server.running = false;
}
