/* reply_arena: hiredis reply objects of one reply allocated from one arena. A drain
 * batch's XREADGROUP reply is hundreds of thousands of small objects; hiredis's own
 * functions make two allocations for each and freeReplyObject walks them all, which
 * profiled at about half the drain's CPU. Here they are carved from 1 MiB chunks (kept
 * for the next reply) and the whole reply is released at once. */
#include "reply_arena.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define CHUNK_SIZE (1 << 20)
#define POOL_MAX 48 /* chunks kept for reuse: about two batches' replies */

struct chunk {
	struct chunk *next, *tail; /* tail: only in the first chunk of an arena */
	size_t used, size;
	_Alignas(max_align_t) char data[];
};

static struct chunk *pool;
static size_t pool_len;

static struct chunk *chunk_new(size_t need)
{
	struct chunk *c;
	if (need <= CHUNK_SIZE && pool) {
		c = pool;
		pool = c->next;
		pool_len--;
	} else {
		size_t size = need > CHUNK_SIZE ? need : CHUNK_SIZE;
		c = lr_xmalloc(offsetof(struct chunk, data) + size);
		c->size = size;
	}
	c->next = NULL;
	c->tail = c;
	c->used = 0;
	return c;
}

static void *arena_alloc(struct chunk *first, size_t n)
{
	n = (n + _Alignof(max_align_t) - 1) & ~(size_t)(_Alignof(max_align_t) - 1);
	struct chunk *c = first->tail;
	if (c->size - c->used < n) {
		c = c->next = chunk_new(n);
		first->tail = c;
	}
	void *p = c->data + c->used;
	c->used += n;
	return p;
}

/* Like hiredis's own createReplyObject and friends, linking each object into its
 * parent array. */
static redisReply *new_object(const redisReadTask *task, int type, size_t extra)
{
	redisReply *r = arena_alloc(task->privdata, sizeof *r + extra);
	memset(r, 0, sizeof *r);
	r->type = type;
	if (task->parent) {
		redisReply *parent = task->parent->obj;
		parent->element[task->idx] = r;
	}
	return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
	redisReply *r = new_object(task, task->type, len + 1);
	r->str = (char *)(r + 1);
	memcpy(r->str, str, len);
	r->str[len] = '\0';
	r->len = len;
	return r;
}

static void *create_array(const redisReadTask *task, int elements)
{
	redisReply *r = new_object(task, REDIS_REPLY_ARRAY, 0);
	r->elements = (size_t)elements;
	if (elements > 0)
		r->element = arena_alloc(task->privdata, (size_t)elements * sizeof *r->element);
	return r;
}

static void *create_integer(const redisReadTask *task, long long value)
{
	redisReply *r = new_object(task, REDIS_REPLY_INTEGER, 0);
	r->integer = value;
	return r;
}

static void *create_nil(const redisReadTask *task)
{
	return new_object(task, REDIS_REPLY_NIL, 0);
}

static void free_nothing(void *obj)
{
	(void)obj; /* the arena goes as a whole */
}

static redisReplyObjectFunctions arena_functions = {
	create_string, create_array, create_integer, create_nil, free_nothing,
};

static void arena_free(struct chunk *first)
{
	while (first) {
		struct chunk *next = first->next;
		if (first->size == CHUNK_SIZE && pool_len < POOL_MAX) {
			first->next = pool;
			pool = first;
			pool_len++;
		} else {
			free(first);
		}
		first = next;
	}
}

/* hiredis's own functions, the same for every context */
static redisReplyObjectFunctions *hiredis_functions;

void lr_arena_attach(redisContext *ctx)
{
	redisReader *r = ctx->reader;
	if (r->fn != &arena_functions) {
		hiredis_functions = r->fn;
		r->fn = &arena_functions;
	}
	if (!r->privdata)
		r->privdata = chunk_new(0);
}

void lr_arena_detach(redisContext *ctx, const void *reply, bool failed)
{
	redisReader *r = ctx->reader;
	if (r->fn != &arena_functions || (!reply && !failed))
		return; /* not attached, or a reply half read: it goes on in this arena */
	/* A complete reply is the arena's first object and owns it now; after a failure
	 * what was parsed goes, and so does the reader's pointer to it (else freeing the
	 * context would hand it to freeReplyObject). */
	if (!reply) {
		arena_free(r->privdata);
		r->reply = NULL;
	}
	r->privdata = NULL;
	r->fn = hiredis_functions;
}

void lr_arena_reply_free(redisReply *reply)
{
	if (reply)
		arena_free((struct chunk *)((char *)reply - offsetof(struct chunk, data)));
}
