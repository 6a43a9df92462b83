#ifndef LR_REPLY_ARENA_H
#define LR_REPLY_ARENA_H

#include <hiredis/hiredis.h>
#include <stdbool.h>

/* Makes the context parse its next reply into an arena (hiredis reply objects, read as
 * usual) instead of one allocation per object. Attaching again while a reply is half
 * read goes on with the same arena. */
void lr_arena_attach(redisContext *ctx);

/* After a read attempt: with a complete reply (which then owns the arena) or after a
 * failure (the arena is freed), the context parses with its own functions again; a
 * reply still incomplete stays attached. */
void lr_arena_detach(redisContext *ctx, const void *reply, bool failed);
/* (Before redisFree, a context whose reply may be half read: lr_arena_detach(ctx, NULL,
 * true).) */

/* Frees a reply parsed into an arena (never freeReplyObject, which would free its
 * objects one by one). NULL is fine. */
void lr_arena_reply_free(redisReply *reply);

#endif
