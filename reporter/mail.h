#ifndef LR_MAIL_H
#define LR_MAIL_H

#include <stdbool.h>
#include <stdio.h>

/* SMTP delivery through libcurl. */
struct lr_smtp {
	const char *url;      /* smtp://host:port or smtps://host:port */
	const char *tls;      /* none | starttls | smtps */
	const char *user;     /* NULL: no AUTH */
	const char *password; /* never printed */
	const char *ca_file;  /* NULL: system CAs */
	long timeout_s;
};

/* Checks the combination (TLS mode known and matching the URL scheme, no credentials
 * without TLS). Returns NULL or why not. */
const char *lr_smtp_check(const struct lr_smtp *smtp);

/* Sends the message read from msg (rewound first) from `from` to one recipient.
 * Returns true on success; else err holds a one-line reason (no secrets). */
bool lr_smtp_send(const struct lr_smtp *smtp, const char *from, const char *rcpt, FILE *msg,
		  char *err, size_t err_size);

#endif
