#ifndef LR_SIGNING_H
#define LR_SIGNING_H

/* Download links checked by nginx's secure_link module (docs/reports.md):
 *   BASE/REL?r=RECIPIENT&expires=E&md5=M
 * where RECIPIENT is percent-encoded as it appears in the URL and
 *   M = base64url(md5(E + PATH + RECIPIENT + " " + SECRET)), no padding,
 * PATH being the path of BASE followed by "/" REL, which is what nginx's
 *   secure_link $arg_md5,$arg_expires;
 *   secure_link_md5 "$secure_link_expires$uri$arg_r SECRET";
 * computes. rel: path below the reports folder, e.g. "acme/acme_daily_2024-03-30.csv"
 * ([A-Za-z0-9._/-] only). Returns a malloc'd URL, or NULL when hashing fails. */
char *lr_download_url(const char *base_url, const char *rel, const char *recipient,
		      const char *secret, long long expires);

#endif
