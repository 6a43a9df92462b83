/* config_file: the configuration file (key = value lines) and `linkreport config`, which
 * prints the effective configuration with secrets hidden and where each value came from. */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "config.h"
#include "util.h"

struct file_value {
	char *value;
	int line;
};
/* Kept for the life of the process: cfg and lr_setting hand these strings out. */
static struct file_value *file_values;
static const char *file_path;

const char *lr_config_file_value(size_t key, int *line)
{
	if (!file_values || !file_values[key].value)
		return NULL;
	*line = file_values[key].line;
	return file_values[key].value;
}

/* A conninfo or URL with a password in it (an unparsable one may hold one too). */
static bool holds_password(const char *conninfo)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	PQfreemem(err);
	if (!opts)
		return true;
	bool found = false;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
			found = true;
	PQconninfoFree(opts);
	return found;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* One line; returns NULL or why it is wrong (the value itself is never quoted: it may be
 * a secret). */
static const char *parse_line(char *text, int line, char *why, size_t why_size)
{
	char *s = trim(text);
	if (!*s || *s == '#')
		return NULL;
	char *eq = strchr(s, '=');
	if (!eq)
		return "missing '=' (lines are key = value)";
	*eq = '\0';
	char *key = trim(s), *value = trim(eq + 1);
	if (!*key)
		return "missing key before '='";
	long k = lr_config_key(key);
	bool printable = strlen(key) <= 64 && strspn(key, "abcdefghijklmnopqrstuvwxyz"
							  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
						       strlen(key);
	if (k < 0) {
		if (!printable)
			return "unknown key";
		snprintf(why, why_size, "unknown key '%s' (see 'linkreport config --help')", key);
		return why;
	}
	const struct lr_key *def = &lr_keys[k];
	if (def->flags & LR_KEY_NO_FILE) {
		snprintf(why, why_size, "'%s' cannot be set in the file (%s only)", key, def->env);
		return why;
	}
	if (file_values[k].value) {
		snprintf(why, why_size, "duplicate key '%s' (first set on line %d)", key,
			 file_values[k].line);
		return why;
	}
	const char *bad = lr_config_check(def, value);
	if (bad) {
		snprintf(why, why_size, "%s %s", key, bad);
		return why;
	}
	file_values[k].value = lr_xstrdup(value);
	file_values[k].line = line;
	return NULL;
}

/* A configuration is a few dozen short lines; anything much bigger is a mistake. */
#define CONFIG_FILE_MAX (1 << 20)

int lr_config_file_read(const char *path)
{
	/* stat first: opening a FIFO for reading would wait for a writer forever */
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		lr_err("%s: cannot read the configuration file: not a regular file", path);
		return EX_USAGE;
	}
	FILE *f = fopen(path, "r");
	if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONFIG_FILE_MAX) {
		lr_err("%s: cannot read the configuration file: %s", path,
		       !f ? strerror(errno)
		       : S_ISREG(st.st_mode) ? "larger than 1 MiB" : "not a regular file");
		if (f)
			fclose(f);
		return EX_USAGE;
	}
	file_path = path;
	file_values = lr_xcalloc(lr_n_keys, sizeof *file_values);
	char *text = NULL;
	size_t cap = 0;
	ssize_t len;
	int line = 0, status = EX_OK;
	char why[256];
	while (status == EX_OK && (len = getline(&text, &cap, f)) >= 0) {
		line++;
		if (len > 0 && text[len - 1] == '\n')
			text[--len] = '\0';
		if (len > 0 && text[len - 1] == '\r')
			text[--len] = '\0';
		const char *err = strlen(text) != (size_t)len ? "NUL byte in line"
							       : parse_line(text, line, why, sizeof why);
		if (err) {
			lr_err("%s:%d: %s", path, line, err);
			status = EX_USAGE;
		}
	}
	if (status == EX_OK && ferror(f)) {
		lr_err("%s: cannot read the configuration file: %s", path, strerror(errno));
		status = EX_USAGE;
	}
	free(text);
	fclose(f);
	if (status)
		return status;

	/* A file anyone may change can redirect the daemon; one anyone may read must not hold
	 * a secret (group-readable is fine: root:linkreport 0640 is the usual setup). */
	if (st.st_mode & S_IWOTH) {
		lr_err("%s: others may write to the configuration file (mode %04o); run "
		       "'chmod o-w' on it", path, (unsigned)(st.st_mode & 07777));
		return EX_USAGE;
	}
	for (size_t k = 0; k < lr_n_keys && (st.st_mode & S_IROTH); k++) {
		const char *v = file_values[k].value;
		bool secret = v && ((lr_keys[k].flags & LR_KEY_SECRET) ||
				    ((lr_keys[k].flags & LR_KEY_HAS_PASSWORD) && holds_password(v)));
		if (secret) {
			lr_err("%s:%d: %s is a secret but others may read the file (mode %04o); run "
			       "'chmod o-rwx' on it", path, file_values[k].line, lr_keys[k].name,
			       (unsigned)(st.st_mode & 07777));
			return EX_USAGE;
		}
	}
	return EX_OK;
}

/* The conninfo with its password replaced, for display. */
static char *masked_conninfo(const char *conninfo)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	PQfreemem(err);
	if (!opts)
		return lr_xstrdup("(hidden: not a valid conninfo, may hold a password)");
	char *out = lr_xstrdup("");
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		bool pw = strcmp(o->keyword, "password") == 0;
		char *next = lr_xasprintf("%s%s%s='%s'", out, *out ? " " : "", o->keyword,
					  pw ? "(hidden)" : o->val);
		free(out);
		out = next;
	}
	PQconninfoFree(opts);
	return out;
}

static const char config_usage_head[] =
	"usage: linkreport config\n"
	"Prints the effective configuration, one key a line (tab-separated):\n"
	"  KEY VALUE SOURCE\n"
	"SOURCE: option --KEY, env NAME, file PATH:LINE, default, or unset. Secrets\n"
	"(smtp-password, download-secret, a password in db) are shown as (hidden).\n"
	"\n"
	"Precedence: command-line option > environment > configuration file > default.\n"
	"The file (--config FILE or LINKREPORT_CONFIG) holds 'key = value' lines; blank\n"
	"lines and lines starting with '#' are ignored; spaces around key and value are\n"
	"dropped; the value is the rest of the line, taken as it is (no quotes, no escapes,\n"
	"'#' inside a value is kept). An unknown key, a line without '=', an empty or bad\n"
	"value or a key given twice stops every command with 'FILE:LINE: why' (exit 64).\n"
	"A file others may write to is refused; one others may read is refused when it holds\n"
	"a secret.\n"
	"\n"
	"Keys [environment, default] (the global ones are also --KEY options; group ...\n"
	"claim-idle-ms are options of drain and run, interval of run and schedule):\n";

static int config_usage(void)
{
	fputs(config_usage_head, stdout);
	for (size_t k = 0; k < lr_n_keys; k++) {
		const struct lr_key *key = &lr_keys[k];
		char range[64] = "";
		if (key->kind == LR_KIND_UINT)
			snprintf(range, sizeof range, " (%lld-%lld)", key->min, key->max);
		else if (key->kind == LR_KIND_ENUM)
			snprintf(range, sizeof range, " (%s)", key->choices);
		printf("  %-19s %s%s%s [%s, %s]\n", key->name, key->help, range,
		       key->flags & LR_KEY_SECRET ? ", secret" : "", key->env,
		       key->def ? key->def : "none");
	}
	return EX_OK;
}

/* One field of the TAB-separated output: a control character or backslash in a value
 * (the environment can hold any) is written \xHH or \\, so no value forges a line. */
static void print_escaped(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", stdout);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
}

int cmd_config(const struct lr_config *cfg, int argc, char **argv)
{
	const char *who = "config";
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int opt;
	optind = 0;
	while ((opt = lr_getopt(who, argc, argv, options)) != -1) {
		if (opt == 'h')
			return config_usage();
		return EX_USAGE;
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;
	for (size_t k = 0; k < lr_n_keys; k++) {
		const struct lr_key *key = &lr_keys[k];
		const char *value = lr_config_value(cfg, k);
		int line;
		enum lr_source src = lr_config_source(k, &line);
		char *shown = NULL;
		if (value && (key->flags & LR_KEY_SECRET))
			shown = lr_xstrdup("(hidden)");
		else if (value && (key->flags & LR_KEY_HAS_PASSWORD) && holds_password(value))
			shown = masked_conninfo(value);
		printf("%s\t", key->name);
		print_escaped(shown ? shown : value ? value : "");
		putchar('\t');
		free(shown);
		switch (src) {
		case LR_SRC_OPTION: printf("option --%s\n", key->name); break;
		case LR_SRC_ENV: printf("env %s\n", key->env); break;
		case LR_SRC_FILE: printf("file %s:%d\n", file_path, line); break;
		case LR_SRC_DEFAULT: puts(value ? "default" : "unset"); break;
		}
	}
	return EX_OK;
}
