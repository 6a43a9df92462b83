/* linkreport: the reporter side of the link shortener. See docs/reporter.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "util.h"
#include "validate.h"

static const char usage[] =
	"usage: linkreport [global options] COMMAND [options]\n"
	"\n"
	"Commands:\n"
	"  migrate          create or upgrade the PostgreSQL schema\n"
	"  company create   register a company (tenant)\n"
	"  company set      change a company's time zone or owner email\n"
	"  link create      create a short link and publish it to Redis\n"
	"  link publish     (re)publish stored links to Redis (one, or --all)\n"
	"  drain            move clicks from the Redis stream into PostgreSQL\n"
	"  report           write the Links Detailed Report (CSV) for a company and period\n"
	"  settings set     configure a company's scheduled reports (toggle, frequencies,\n"
	"                   recipients)\n"
	"  settings show    print a company's scheduled report settings\n"
	"  schedule         send the scheduled reports that are due\n"
	"  run              the daemon: drain and schedule\n"
	"  send             (re)send one report now\n"
	"  status           outcome of every scheduled report and delivery\n"
	"  download-url     print the signed download link of a report file\n"
	"  config           print the effective configuration and where each value came from\n"
	"\n"
	"Run 'linkreport COMMAND --help' for a command's options.\n"
	"\n";

static const char exit_codes[] =
	"Exit status: 0 ok, 64 usage error, 65 invalid data, 69 PostgreSQL or Redis\n"
	"unavailable, 70 internal error.\n";

static void print_usage(FILE *out)
{
	fputs(usage, out);
	lr_config_print_usage(out);
	fputc('\n', out);
	fputs(exit_codes, out);
}

/* How many "--name=value" options main() put in front of the command's own (drain/run/
 * schedule settings from the environment or the file). They are defaults: the command
 * line may give the same option once more, and that one wins. */
static int injected_options;

struct command {
	const char *group; /* NULL for a one-word command */
	const char *name;
	int (*run)(const struct lr_config *cfg, int argc, char **argv);
};

static const struct command commands[] = {
	{NULL, "migrate", cmd_migrate},
	{"company", "create", cmd_company_create},
	{"link", "create", cmd_link_create},
	{"link", "publish", cmd_link_publish},
	{NULL, "drain", cmd_drain},
	{NULL, "report", cmd_report},
	{"company", "set", cmd_company_set},
	{"settings", "set", cmd_settings_set},
	{"settings", "show", cmd_settings_show},
	{NULL, "schedule", cmd_schedule},
	{NULL, "run", cmd_run},
	{NULL, "send", cmd_send},
	{NULL, "status", cmd_status},
	{NULL, "download-url", cmd_download_url},
	{NULL, "config", cmd_config},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static bool is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0;
}

static int run_group(const struct lr_config *cfg, const char *group, int argc, char **argv)
{
	if (argc < 2) {
		lr_err("%s: missing subcommand (see 'linkreport %s --help')", group, group);
		return EX_USAGE;
	}
	if (is_help(argv[1])) {
		printf("usage: linkreport %s SUBCOMMAND [options]\nSubcommands:", group);
		for (size_t i = 0; i < N_COMMANDS; i++)
			if (commands[i].group && strcmp(commands[i].group, group) == 0)
				printf(" %s", commands[i].name);
		putchar('\n');
		return EX_OK;
	}
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (commands[i].group && strcmp(commands[i].group, group) == 0 &&
		    strcmp(commands[i].name, argv[1]) == 0) {
			char *name = lr_xasprintf("%s %s", group, argv[1]);
			argv[1] = name;
			int status = commands[i].run(cfg, argc - 1, argv + 1);
			free(name);
			return status;
		}
	}
	lr_err("%s: unknown subcommand '%s' (see 'linkreport %s --help')", group, argv[1], group);
	return EX_USAGE;
}

int main(int argc, char **argv)
{
	struct lr_config cfg;
	struct lr_strv args = {0};
	/* Global options may sit anywhere; pull them out so subcommands only see their own. */
	char **rest = lr_xcalloc((size_t)argc + 1, sizeof *rest);
	int nrest = 0;
	int status = lr_config_init(&cfg, argc, argv);
	if (status)
		goto out;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc)
				rest[nrest++] = argv[i++];
			break;
		}
		int taken = lr_config_take_option(&cfg, argc, argv, &i);
		if (taken < 0) {
			status = EX_USAGE;
			goto out;
		}
		if (!taken)
			rest[nrest++] = argv[i];
	}

	if (nrest == 0) {
		lr_err("missing command (see 'linkreport --help')");
		status = EX_USAGE;
		goto out;
	}
	if (is_help(rest[0])) {
		print_usage(stdout);
		goto out;
	}
	/* drain/run/schedule options set in the environment or the file go first, so the
	 * command line's own still win */
	lr_strv_push(&args, lr_xstrdup(rest[0]));
	if ((status = lr_config_command_defaults(rest[0], &args)))
		goto out;
	if (args.len > 1) {
		injected_options = (int)args.len - 1;
		for (int i = 1; i < nrest; i++)
			lr_strv_push(&args, lr_xstrdup(rest[i]));
		free(rest);
		rest = lr_xcalloc(args.len + 1, sizeof *rest);
		memcpy(rest, args.items, args.len * sizeof *rest);
		nrest = (int)args.len;
	}
	status = -1;
	for (size_t i = 0; i < N_COMMANDS && status < 0; i++) {
		if (commands[i].group && strcmp(commands[i].group, rest[0]) == 0)
			status = run_group(&cfg, rest[0], nrest, rest);
		else if (!commands[i].group && strcmp(commands[i].name, rest[0]) == 0)
			status = commands[i].run(&cfg, nrest, rest);
	}
	if (status < 0) {
		lr_err("unknown command '%s' (see 'linkreport --help')", rest[0]);
		status = EX_USAGE;
	}
out:
	free(rest);
	lr_strv_free(&args);
	if (fflush(stdout) != 0 && status == EX_OK) {
		lr_err("cannot write to standard output");
		status = EX_SOFTWARE;
	}
	return status;
}

int lr_getopt(const char *who, int argc, char **argv, const struct option *options)
{
	return lr_getopt_repeatable(who, argc, argv, options, "");
}

int lr_getopt_repeatable(const char *who, int argc, char **argv, const struct option *options,
			 const char *repeatable)
{
	/* A second value of a single-valued option used to replace the first silently, so
	 * "--company a --company b" quietly meant b: refuse it instead. */
	static bool seen[256];
	if (optind == 0)
		memset(seen, 0, sizeof seen);
	opterr = 0;
	int opt = getopt_long(argc, argv, ":h", options, NULL);
	if (opt == '?') {
		if (optopt && optopt != '?')
			lr_err("%s: unknown option '-%c' (see --help)", who, optopt);
		else
			lr_err("%s: unknown option '%s' (see --help)", who, argv[optind - 1]);
	} else if (opt == ':') {
		lr_err("%s: option '%s' needs a value", who, argv[optind - 1]);
		opt = '?';
	} else if (opt > 0 && opt < 256 && opt != 'h' && !strchr(repeatable, opt) &&
		   optind - 1 > injected_options) {
		if (seen[opt]) {
			const char *name = "?";
			for (const struct option *o = options; o->name; o++)
				if (o->val == opt)
					name = o->name;
			lr_err("%s: option --%s given twice", who, name);
			opt = '?';
		}
		seen[opt] = true;
	}
	return opt;
}

int lr_no_operands(const char *who, int argc, char **argv)
{
	if (optind < argc) {
		lr_err("%s: unexpected argument '%s' (see --help)", who, argv[optind]);
		return EX_USAGE;
	}
	return EX_OK;
}

int lr_missing(const char *who, const char *option)
{
	lr_err("%s: %s is required (see --help)", who, option);
	return EX_USAGE;
}

int lr_company_option(const char *who, const char *company)
{
	if (!company)
		return lr_missing(who, "--company");
	if (!lr_valid_code(company)) {
		lr_err("%s: unknown company '%s'", who, company);
		return EX_DATAERR;
	}
	return EX_OK;
}
