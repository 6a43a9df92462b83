/* link create / link publish: PostgreSQL holds the link, Redis a published copy for the
 * edge (docs/data-contract.md). */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "db.h"
#include "redis_conn.h"
#include "util.h"
#include "validate.h"

#define CODE_LENGTH 6
#define TOKEN_LENGTH 5
#define CODE_ATTEMPTS 20

struct recipient {
	char *mobile;
	char *message_id;
	char token[65]; /* ours are TOKEN_LENGTH long; the contract allows 64 */
};

/* Everything the link hash holds, as strings. */
struct link {
	const char *code, *long_url, *short_url, *txtly_id, *company_id;
	const char *campaign_name, *template_id, *channel, *message_id, *created_on;
	struct recipient *recipients;
	size_t n_recipients;
};

static void free_recipients(struct recipient *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].mobile);
		free(r[i].message_id);
	}
	free(r);
}

/* DEL + HSET in one MULTI: the hash becomes exactly the stored link (no stale r:{token}
 * fields from an earlier life of the code) and the edge never sees it half written.
 * Appends the four commands; read_published() reads their replies, so that many links
 * can go in one round trip. */
static void append_publish(const struct lr_config *cfg, redisContext *redis,
			   const struct link *link)
{
	struct lr_strv argv = {0};
	char *key = lr_xasprintf("%s%s", cfg->key_prefix, link->code);
	lr_strv_push(&argv, lr_xstrdup("HSET"));
	lr_strv_push(&argv, lr_xstrdup(key));
	const char *fields[][2] = {
		{"long_url", link->long_url},
		{"short_url", link->short_url},
		{"txtly_id", link->txtly_id},
		{"company_id", link->company_id},
		{"campaign_name", link->campaign_name},
		{"template_id", link->template_id},
		{"channel", link->channel},
		{"message_id", link->message_id},
		{"created_on", link->created_on},
		{"track_user", link->n_recipients ? "1" : "0"},
	};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		lr_strv_push(&argv, lr_xstrdup(fields[i][0]));
		lr_strv_push(&argv, lr_xstrdup(fields[i][1]));
	}
	for (size_t i = 0; i < link->n_recipients; i++) {
		const struct recipient *r = &link->recipients[i];
		lr_strv_push(&argv, lr_xasprintf("r:%s", r->token));
		lr_strv_push(&argv, lr_xasprintf("%s\t%s", r->mobile, r->message_id));
	}
	const char *del[] = {"DEL", key};
	redisAppendCommand(redis, "MULTI");
	redisAppendCommandArgv(redis, 2, del, NULL);
	redisAppendCommandArgv(redis, (int)argv.len, (const char **)argv.items, NULL);
	redisAppendCommand(redis, "EXEC");
	free(key);
	lr_strv_free(&argv);
}

/* The replies of one append_publish(). On failure returns 69 with the reason in why[]. */
static int read_published(redisContext *redis, char *why, size_t why_size)
{
	for (int i = 0; i < 4; i++) {
		redisReply *reply = NULL;
		if (redisGetReply(redis, (void **)&reply) != REDIS_OK) {
			lr_redis_describe(redis, reply, why, why_size);
			if (reply)
				freeReplyObject(reply);
			return EX_UNAVAILABLE;
		}
		bool ok = i < 3 ? reply->type == REDIS_REPLY_STATUS
				: reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
					  reply->element[1]->type == REDIS_REPLY_INTEGER;
		if (!ok)
			lr_redis_describe(redis, reply, why, why_size);
		freeReplyObject(reply);
		if (!ok)
			return EX_UNAVAILABLE;
	}
	return EX_OK;
}

static int publish(const struct lr_config *cfg, redisContext *redis, const struct link *link,
		   char *why, size_t why_size)
{
	append_publish(cfg, redis, link);
	return read_published(redis, why, why_size);
}

/* Every Redis server --redis lists (one per edge region) gets the link: each region's
 * edge must resolve it. ctx[i] is NULL for a server that could not be reached. */
struct redis_servers {
	char **addrs;
	redisContext **ctx;
	char **why; /* why ctx[i] is NULL */
	size_t n;
};

/* Connects to every listed server. A malformed list or address: 64 after printing. A
 * server that cannot be reached: 69 with the reason in why[] (naming the server when
 * there are several), and the others are still connected. */
static int open_servers(const struct lr_config *cfg, const char *who, struct redis_servers *rs,
			char *why, size_t why_size)
{
	rs->n = lr_redis_addrs(cfg->redis, who, &rs->addrs);
	if (!rs->n)
		return EX_USAGE;
	rs->ctx = lr_xcalloc(rs->n, sizeof *rs->ctx);
	rs->why = lr_xcalloc(rs->n, sizeof *rs->why);
	int result = EX_OK;
	for (size_t i = 0; i < rs->n; i++) {
		char one[512];
		int status;
		rs->ctx[i] = lr_redis_open_addr(rs->addrs[i], 5000, &status, one, sizeof one);
		if (rs->ctx[i])
			continue;
		if (status == EX_USAGE) {
			lr_err("%s: %s", who, one);
			return EX_USAGE;
		}
		if (result == EX_OK)
			snprintf(why, why_size, "%s", one);
		rs->why[i] = lr_xstrdup(one);
		result = EX_UNAVAILABLE;
	}
	return result;
}

static void close_servers(struct redis_servers *rs)
{
	for (size_t i = 0; rs->ctx && i < rs->n; i++) {
		if (rs->ctx[i])
			redisFree(rs->ctx[i]);
		free(rs->why[i]);
	}
	free(rs->ctx);
	free(rs->why);
	lr_redis_addrs_free(rs->addrs);
}

/* Publishes to every reachable server; the first failure's reason goes to why[] (naming
 * the server when there are several) and the servers after it are still written. */
static int publish_to_servers(const struct lr_config *cfg, const struct redis_servers *rs,
			      const struct link *link, int status, char *why, size_t why_size)
{
	for (size_t i = 0; i < rs->n; i++) {
		char one[256];
		if (!rs->ctx[i] || publish(cfg, rs->ctx[i], link, one, sizeof one) == EX_OK)
			continue;
		if (status == EX_OK) {
			if (rs->n > 1)
				snprintf(why, why_size, "at %s: %s", rs->addrs[i], one);
			else
				snprintf(why, why_size, "%s", one);
		}
		status = EX_UNAVAILABLE;
	}
	return status;
}

static void print_link(const struct link *link)
{
	if (link->n_recipients == 0) {
		printf("%s\n", link->short_url);
		return;
	}
	for (size_t i = 0; i < link->n_recipients; i++) {
		const struct recipient *r = &link->recipients[i];
		printf("%s/%s\t%s\t%s\n", link->short_url, r->token, r->mobile, r->message_id);
	}
}

static const char create_usage[] =
	"usage: linkreport link create --company ID --long-url URL [--slug CODE]\n"
	"         [--campaign NAME] [--template-id ID] [--channel CH] [--message-id ID]\n"
	"         [--recipient MOBILE[:MESSAGE_ID]]...\n"
	"  --long-url URL   http:// or https://, no spaces or control characters, <= 2048 bytes\n"
	"  --slug CODE      [A-Za-z0-9_-]{1,64}; default: 6 random base62 characters\n"
	"  --recipient      makes a track-user link; MOBILE is +?[0-9]{4,20}; repeatable\n"
	"Text options: no control characters, at most 256 bytes.\n"
	"Prints the short URL, or for a track-user link one line per recipient:\n"
	"  SHORT_URL/TOKEN<TAB>MOBILE<TAB>MESSAGE_ID\n"
	"The link is published to every Redis server --redis lists (one per edge region).\n"
	"Options other than --recipient may be given once. When a Redis server is down or\n"
	"fails, the link is still stored in PostgreSQL; the command exits 69, prints no short\n"
	"URL and says so; 'linkreport link publish --code CODE' publishes it once Redis is back.\n";

/* Splits and checks MOBILE[:MESSAGE_ID]. Returns NULL when fine, else the reason. */
static const char *parse_recipient(const char *arg, struct recipient *out)
{
	const char *colon = strchr(arg, ':');
	size_t mobile_len = colon ? (size_t)(colon - arg) : strlen(arg);
	out->mobile = lr_xmalloc(mobile_len + 1);
	memcpy(out->mobile, arg, mobile_len);
	out->mobile[mobile_len] = '\0';
	out->message_id = lr_xstrdup(colon ? colon + 1 : "");
	if (!lr_valid_mobile(out->mobile))
		return "mobile number must match +?[0-9]{4,20}";
	if (lr_check_text(out->message_id, LR_TEXT_MAX))
		return "message id must have no control characters and at most 256 bytes";
	return NULL;
}

static bool token_taken(const struct recipient *r, size_t n, const char *token)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(r[i].token, token) == 0)
			return true;
	return false;
}

/* Inserts the link and its recipients in one transaction; fills txtly_id/created_on/code. */
static int store_link(const char *who, PGconn *conn, const struct lr_config *cfg,
		      const char *slug, struct link *link, char *code_buf, char **short_url,
		      char **txtly_id, char **created_on)
{
	int status = lr_db_exec(who, conn, "BEGIN");
	if (status)
		return status;
	const char *company_params[] = {link->company_id};
	PGresult *res = lr_db_query(conn, "SELECT 1 FROM companies WHERE id = $1 FOR KEY SHARE", 1,
				    company_params);
	if (!lr_db_ok(res)) {
		status = lr_db_fail(who, conn, res);
		goto fail;
	}
	bool company_known = PQntuples(res) > 0;
	PQclear(res);
	if (!company_known) {
		lr_err("%s: unknown company '%s'", who, link->company_id);
		status = EX_DATAERR;
		goto fail;
	}

	const char *base = cfg->base_url;
	size_t base_len = strlen(base);
	while (base_len > 0 && base[base_len - 1] == '/')
		base_len--;
	for (int attempt = 0;; attempt++) {
		if (slug) {
			snprintf(code_buf, 65, "%s", slug);
		} else if (attempt == CODE_ATTEMPTS) {
			lr_err("%s: no free random code after %d attempts", who, CODE_ATTEMPTS);
			status = EX_SOFTWARE;
			goto fail;
		} else if (!lr_random_base62(code_buf, CODE_LENGTH)) {
			lr_err("%s: getrandom failed", who);
			status = EX_SOFTWARE;
			goto fail;
		}
		free(*short_url);
		*short_url = lr_xasprintf("%.*s/%s", (int)base_len, base, code_buf);
		const char *params[] = {code_buf,	    link->company_id,	   link->long_url,
					*short_url,	    link->campaign_name,   link->template_id,
					link->channel,	    link->message_id,
					link->n_recipients ? "true" : "false"};
		res = lr_db_query(conn,
				  "INSERT INTO links (code, company_id, long_url, short_url, campaign_name,"
				  " template_id, channel, message_id, track_user)"
				  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
				  " ON CONFLICT (code) DO NOTHING"
				  " RETURNING txtly_id, floor(extract(epoch FROM created_on))::bigint",
				  9, params);
		if (!lr_db_ok(res)) {
			status = lr_db_fail(who, conn, res);
			goto fail;
		}
		if (PQntuples(res) == 1) {
			*txtly_id = lr_xstrdup(PQgetvalue(res, 0, 0));
			*created_on = lr_xstrdup(PQgetvalue(res, 0, 1));
			PQclear(res);
			break;
		}
		PQclear(res);
		if (slug) {
			lr_err("%s: slug '%s' is already taken", who, slug);
			status = EX_DATAERR;
			goto fail;
		}
	}

	for (size_t i = 0; i < link->n_recipients; i++) {
		struct recipient *r = &link->recipients[i];
		do {
			if (!lr_random_base62(r->token, TOKEN_LENGTH)) {
				lr_err("%s: getrandom failed", who);
				status = EX_SOFTWARE;
				goto fail;
			}
		} while (token_taken(link->recipients, i, r->token));
		const char *params[] = {*txtly_id, r->token, r->mobile, r->message_id};
		res = lr_db_query(conn,
				  "INSERT INTO link_recipients (txtly_id, token, mobile_number, message_id)"
				  " VALUES ($1, $2, $3, $4)",
				  4, params);
		if (!lr_db_ok(res)) {
			status = lr_db_fail(who, conn, res);
			goto fail;
		}
		PQclear(res);
	}
	status = lr_db_exec(who, conn, "COMMIT");
	if (status == EX_OK)
		return EX_OK;
fail:
	lr_db_rollback(conn);
	return status;
}

int cmd_link_create(const struct lr_config *cfg, int argc, char **argv)
{
	const char *who = argv[0];
	static const struct option options[] = {
		{"company", required_argument, NULL, 'c'},
		{"long-url", required_argument, NULL, 'u'},
		{"slug", required_argument, NULL, 's'},
		{"campaign", required_argument, NULL, 'C'},
		{"template-id", required_argument, NULL, 'T'},
		{"channel", required_argument, NULL, 'H'},
		{"message-id", required_argument, NULL, 'M'},
		{"recipient", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct link link = {.campaign_name = "", .template_id = "", .channel = "", .message_id = ""};
	const char *slug = NULL;
	const char *recipient_args[argc > 0 ? argc : 1];
	size_t n_recipient_args = 0;
	int opt;
	optind = 0;
	while ((opt = lr_getopt_repeatable(who, argc, argv, options, "r")) != -1) {
		switch (opt) {
		case 'c': link.company_id = optarg; break;
		case 'u': link.long_url = optarg; break;
		case 's': slug = optarg; break;
		case 'C': link.campaign_name = optarg; break;
		case 'T': link.template_id = optarg; break;
		case 'H': link.channel = optarg; break;
		case 'M': link.message_id = optarg; break;
		case 'r': recipient_args[n_recipient_args++] = optarg; break;
		case 'h': fputs(create_usage, stdout); return EX_OK;
		default: return EX_USAGE;
		}
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;
	if (!link.company_id)
		return lr_missing(who, "--company");
	if (!link.long_url)
		return lr_missing(who, "--long-url");
	if (lr_check_url(cfg->base_url)) {
		lr_err("%s: LINKREPORT_BASE_URL/--base-url must be an http:// or https:// URL", who);
		return EX_USAGE;
	}

	const char *why;
	if (!lr_valid_code(link.company_id)) {
		lr_err("%s: unknown company (--company must match [A-Za-z0-9_-]{1,64})", who);
		return EX_DATAERR;
	}
	if ((why = lr_check_url(link.long_url))) {
		lr_err("%s: --long-url %s", who, why);
		return EX_DATAERR;
	}
	if (slug && !lr_valid_code(slug)) {
		lr_err("%s: --slug must match [A-Za-z0-9_-]{1,64}", who);
		return EX_DATAERR;
	}
	const char *texts[][2] = {{"--campaign", link.campaign_name},
				  {"--template-id", link.template_id},
				  {"--channel", link.channel},
				  {"--message-id", link.message_id}};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		if ((why = lr_check_text(texts[i][1], LR_TEXT_MAX))) {
			lr_err("%s: %s %s", who, texts[i][0], why);
			return EX_DATAERR;
		}
	}
	link.recipients = lr_xcalloc(n_recipient_args, sizeof *link.recipients);
	for (size_t i = 0; i < n_recipient_args; i++) {
		link.n_recipients++;
		if ((why = parse_recipient(recipient_args[i], &link.recipients[i]))) {
			lr_err("%s: --recipient %s", who, why);
			free_recipients(link.recipients, link.n_recipients);
			return EX_DATAERR;
		}
	}

	/* PostgreSQL is the source of truth and Redis only holds a copy, so a Redis that is
	 * down does not stop the link from being stored: it is stored, the command exits 69
	 * and says so, and 'link publish' writes the copy once Redis is back. One outcome
	 * whether Redis fails before or after the commit. Only a malformed --redis (64) stops
	 * it first, as a usage error should. */
	char code[65] = "";
	char *short_url = NULL, *txtly_id = NULL, *created_on = NULL;
	PGconn *conn = NULL;
	char redis_error[600] = "";
	struct redis_servers redis = {0};
	int redis_status = open_servers(cfg, who, &redis, redis_error, sizeof redis_error);
	if (redis_status == EX_USAGE) {
		status = EX_USAGE;
		goto out;
	}
	conn = lr_db_connect(cfg, who, &status);
	if (!conn)
		goto out;
	status = store_link(who, conn, cfg, slug, &link, code, &short_url, &txtly_id, &created_on);
	if (status)
		goto out;
	link.code = code;
	link.short_url = short_url;
	link.txtly_id = txtly_id;
	link.created_on = created_on;
	status = publish_to_servers(cfg, &redis, &link, redis_status, redis_error,
				    sizeof redis_error);
	if (status) {
		lr_err("%s: link '%s' (txtly_id %s) is stored in PostgreSQL but not published to "
		       "Redis (%s); run 'linkreport link publish --code %s' once Redis is back",
		       who, code, txtly_id, redis_error, code);
		goto out;
	}
	print_link(&link);
out:
	free(short_url);
	free(txtly_id);
	free(created_on);
	free_recipients(link.recipients, link.n_recipients);
	if (conn)
		PQfinish(conn);
	close_servers(&redis);
	return status;
}

static const char publish_usage[] =
	"usage: linkreport link publish --code CODE\n"
	"       linkreport link publish --all [--company ID]\n"
	"Writes stored links from PostgreSQL to Redis again, each hash exactly as 'link\n"
	"create' writes it (after 'link create' exited 69 saying the link is stored but not\n"
	"published, or after Redis lost its data), to every Redis server --redis lists.\n"
	"Safe to repeat.\n"
	"  --code CODE   one link; prints it like 'link create'\n"
	"  --all         every stored link (of --company ID only, if given), 1000 per round\n"
	"                trip; prints 'published: N links'\n";

#define PUBLISH_BATCH 1000

/* Columns of the links a publish reads, in the order link_from_row() expects. */
#define LINK_COLUMNS                                                                         \
	"txtly_id, code, company_id, long_url, short_url, campaign_name, template_id, channel," \
	" message_id, floor(extract(epoch FROM created_on))::bigint"

static void link_from_row(const PGresult *res, int row, struct link *link)
{
	const char **fields[] = {&link->txtly_id,	&link->code,	    &link->company_id,
				 &link->long_url,	&link->short_url,   &link->campaign_name,
				 &link->template_id,	&link->channel,	    &link->message_id,
				 &link->created_on};
	for (int col = 0; col < 10; col++)
		*fields[col] = PQgetvalue(res, row, col);
}

/* Publishes the links of `links` (rows of LINK_COLUMNS, by txtly_id ascending) with their
 * recipients, all commands in one pipeline; prints each one when `print`. Returns 0, or
 * the exit status after printing why (*published counts the links written before). */
static int publish_rows(const char *who, const struct lr_config *cfg, PGconn *conn,
			redisContext *redis, const PGresult *links, bool print, long long *published)
{
	int n = PQntuples(links);
	/* "{1,2,3}": the link ids, integers from PostgreSQL itself */
	size_t ids_len = 2;
	for (int i = 0; i < n; i++)
		ids_len += strlen(PQgetvalue(links, i, 0)) + 1;
	char *array = lr_xmalloc(ids_len + 1);
	char *p = array;
	*p++ = '{';
	for (int i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", PQgetvalue(links, i, 0));
	strcpy(p, "}");
	const char *params[] = {array};
	PGresult *rec = lr_db_query(conn,
				    "SELECT txtly_id, token, mobile_number, message_id"
				    " FROM link_recipients WHERE txtly_id = ANY($1::bigint[])"
				    " ORDER BY txtly_id, token",
				    1, params);
	free(array);
	if (!lr_db_ok(rec))
		return lr_db_fail(who, conn, rec);

	struct link *batch = lr_xcalloc((size_t)n, sizeof *batch);
	int n_rec = PQntuples(rec), r = 0;
	for (int i = 0; i < n; i++) {
		struct link *link = &batch[i];
		link_from_row(links, i, link);
		long long id = strtoll(link->txtly_id, NULL, 10);
		int first = r;
		while (r < n_rec && strtoll(PQgetvalue(rec, r, 0), NULL, 10) == id)
			r++;
		link->n_recipients = (size_t)(r - first);
		link->recipients = lr_xcalloc(link->n_recipients, sizeof *link->recipients);
		for (int k = first; k < r; k++) {
			struct recipient *to = &link->recipients[k - first];
			snprintf(to->token, sizeof to->token, "%s", PQgetvalue(rec, k, 1));
			to->mobile = lr_xstrdup(PQgetvalue(rec, k, 2));
			to->message_id = lr_xstrdup(PQgetvalue(rec, k, 3));
		}
		append_publish(cfg, redis, link);
	}
	int status = EX_OK;
	char why[256];
	for (int i = 0; i < n && status == EX_OK; i++) {
		status = read_published(redis, why, sizeof why);
		if (status == EX_OK) {
			++*published;
			if (print)
				print_link(&batch[i]);
		}
	}
	if (status)
		lr_err("%s: Redis failed (%s) after %lld links were published; publishing again "
		       "is safe", who, why, *published);
	for (int i = 0; i < n; i++)
		free_recipients(batch[i].recipients, batch[i].n_recipients);
	free(batch);
	PQclear(rec);
	return status;
}

/* Every stored link (of one company), read from one snapshot with a cursor so memory
 * stays bounded, PUBLISH_BATCH links per pipeline. */
static int publish_every_link(const char *who, const struct lr_config *cfg, PGconn *conn,
		       redisContext *redis, const char *company, long long *published)
{
	int status;
	if ((status = lr_db_exec(who, conn,
				 "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")))
		return status;
	const char *params[] = {company};
	PGresult *res = lr_db_query(conn,
				    "DECLARE publish_links NO SCROLL CURSOR FOR SELECT " LINK_COLUMNS
				    " FROM links WHERE $1::text IS NULL OR company_id = $1"
				    " ORDER BY txtly_id",
				    1, params);
	if (!lr_db_ok(res)) {
		status = lr_db_fail(who, conn, res);
		goto fail;
	}
	PQclear(res);
	char fetch[64];
	snprintf(fetch, sizeof fetch, "FETCH %d FROM publish_links", PUBLISH_BATCH);
	for (;;) {
		res = PQexec(conn, fetch);
		if (!lr_db_ok(res)) {
			status = lr_db_fail(who, conn, res);
			goto fail;
		}
		int n = PQntuples(res);
		if (n > 0)
			status = publish_rows(who, cfg, conn, redis, res, false, published);
		PQclear(res);
		if (status)
			goto fail;
		if (n < PUBLISH_BATCH)
			break;
	}
	return lr_db_exec(who, conn, "COMMIT");
fail:
	lr_db_rollback(conn);
	return status;
}

int cmd_link_publish(const struct lr_config *cfg, int argc, char **argv)
{
	const char *who = argv[0];
	static const struct option options[] = {
		{"code", required_argument, NULL, 'c'},
		{"all", no_argument, NULL, 'a'},
		{"company", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *code = NULL, *company = NULL;
	bool all = false;
	int opt;
	optind = 0;
	while ((opt = lr_getopt(who, argc, argv, options)) != -1) {
		switch (opt) {
		case 'c': code = optarg; break;
		case 'a': all = true; break;
		case 'C': company = optarg; break;
		case 'h': fputs(publish_usage, stdout); return EX_OK;
		default: return EX_USAGE;
		}
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;
	if (code && all) {
		lr_err("%s: --code and --all exclude each other", who);
		return EX_USAGE;
	}
	if (company && !all) {
		lr_err("%s: --company goes with --all", who);
		return EX_USAGE;
	}
	if (!code && !all)
		return lr_missing(who, "--code or --all");
	if (code && !lr_valid_code(code)) {
		lr_err("%s: --code must match [A-Za-z0-9_-]{1,64}", who);
		return EX_DATAERR;
	}
	if (company && !lr_valid_code(company)) {
		lr_err("%s: unknown company (--company must match [A-Za-z0-9_-]{1,64})", who);
		return EX_DATAERR;
	}

	PGresult *res = NULL;
	struct redis_servers redis = {0};
	long long published = 0;
	PGconn *conn = lr_db_connect(cfg, who, &status);
	if (!conn)
		return status;
	const char *params[] = {all ? company : code};
	if (all && company)
		res = lr_db_query(conn, "SELECT 1 FROM companies WHERE id = $1", 1, params);
	else if (!all)
		res = lr_db_query(conn, "SELECT " LINK_COLUMNS " FROM links WHERE code = $1", 1,
				  params);
	if (res && !lr_db_ok(res)) {
		status = lr_db_fail(who, conn, res);
		res = NULL;
		goto out;
	}
	if (res && PQntuples(res) == 0) {
		if (all)
			lr_err("%s: unknown company '%s'", who, company);
		else
			lr_err("%s: unknown code '%s'", who, code);
		status = EX_DATAERR;
		goto out;
	}
	/* Every server that answers gets every link, even when another is down: this is the
	 * tool that repairs one region while another may be out. */
	char why[600];
	int result = open_servers(cfg, who, &redis, why, sizeof why);
	if (result == EX_USAGE) {
		status = EX_USAGE;
		goto out;
	}
	bool printed = false; /* --code prints the link once, for the first server written */
	long long count = -1;
	status = EX_OK;
	for (size_t i = 0; i < redis.n; i++) {
		if (!redis.ctx[i]) {
			lr_err("%s: %s; nothing published there, run this again once it is back", who,
			       redis.why[i]);
			continue;
		}
		char *who_server = redis.n > 1 ? lr_xasprintf("%s: Redis at %s", who, redis.addrs[i])
					       : lr_xstrdup(who);
		published = 0;
		int one = all ? publish_every_link(who_server, cfg, conn, redis.ctx[i], company,
						   &published)
			      : publish_rows(who_server, cfg, conn, redis.ctx[i], res, !printed,
					     &published);
		free(who_server);
		if (one == EX_OK) {
			printed = true;
			count = published;
		} else if (status == EX_OK) {
			status = one;
		}
	}
	if (all && count >= 0)
		printf("published: %lld links%s\n", count,
		       redis.n > 1 ? " to each Redis server that answered" : "");
	if (status == EX_OK)
		status = result;
out:
	PQclear(res);
	PQfinish(conn);
	close_servers(&redis);
	return status;
}
