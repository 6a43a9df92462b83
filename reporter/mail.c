#include "mail.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

const char *lr_smtp_check(const struct lr_smtp *smtp)
{
	bool smtps_url = strncasecmp(smtp->url, "smtps://", 8) == 0;
	if (!smtps_url && strncasecmp(smtp->url, "smtp://", 7) != 0)
		return "LINKREPORT_SMTP_URL must start with smtp:// or smtps://";
	if (strcmp(smtp->tls, "smtps") == 0) {
		if (!smtps_url)
			return "LINKREPORT_SMTP_TLS=smtps needs an smtps:// URL";
	} else if (strcmp(smtp->tls, "starttls") == 0) {
		if (smtps_url)
			return "LINKREPORT_SMTP_TLS=starttls needs an smtp:// URL";
	} else if (strcmp(smtp->tls, "none") == 0) {
		if (smtps_url)
			return "LINKREPORT_SMTP_TLS=none contradicts an smtps:// URL";
		if (smtp->user || smtp->password)
			return "refusing to send SMTP credentials without TLS "
			       "(set LINKREPORT_SMTP_TLS to starttls or smtps)";
	} else {
		return "LINKREPORT_SMTP_TLS must be none, starttls or smtps";
	}
	return NULL;
}

bool lr_smtp_send(const struct lr_smtp *smtp, const char *from, const char *rcpt, FILE *msg,
		  char *err, size_t err_size)
{
	static bool initialised;
	if (!initialised) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		initialised = true;
	}
	const char *why = lr_smtp_check(smtp);
	if (why) {
		snprintf(err, err_size, "%s", why);
		return false;
	}
	CURL *curl = curl_easy_init();
	if (!curl) {
		snprintf(err, err_size, "cannot initialise libcurl");
		return false;
	}
	rewind(msg);
	char errbuf[CURL_ERROR_SIZE] = "";
	char *mail_from = lr_xasprintf("<%s>", from);
	char *mail_rcpt = lr_xasprintf("<%s>", rcpt);
	struct curl_slist *rcpts = curl_slist_append(NULL, mail_rcpt);
	curl_easy_setopt(curl, CURLOPT_URL, smtp->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from);
	curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(curl, CURLOPT_READDATA, msg);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, smtp->timeout_s);
	if (strcmp(smtp->tls, "none") != 0)
		curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (smtp->ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, smtp->ca_file);
	if (smtp->user)
		curl_easy_setopt(curl, CURLOPT_USERNAME, smtp->user);
	if (smtp->password)
		curl_easy_setopt(curl, CURLOPT_PASSWORD, smtp->password);
	CURLcode rc = curl_easy_perform(curl);
	bool ok = rc == CURLE_OK;
	if (!ok) {
		long code = 0;
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
		const char *detail = *errbuf ? errbuf : curl_easy_strerror(rc);
		size_t len = strcspn(detail, "\r\n");
		/* Only a refusal (4xx/5xx) is the server's answer; after a positive reply (e.g.
		 * 220 to STARTTLS, then a certificate the client rejects) the failure is ours. */
		if (code >= 400)
			snprintf(err, err_size, "SMTP %ld: %.*s", code, (int)len, detail);
		else
			snprintf(err, err_size, "%.*s", (int)len, detail);
	}
	curl_slist_free_all(rcpts);
	curl_easy_cleanup(curl);
	free(mail_from);
	free(mail_rcpt);
	return ok;
}
