#ifndef LR_COMMANDS_H
#define LR_COMMANDS_H

#include <getopt.h>

#include "config.h"

/* Each subcommand gets its own argv: argv[0] is its name, the rest its options (global
 * options already removed). It returns the process exit status. */
int cmd_migrate(const struct lr_config *cfg, int argc, char **argv);
int cmd_company_create(const struct lr_config *cfg, int argc, char **argv);
int cmd_link_create(const struct lr_config *cfg, int argc, char **argv);
int cmd_link_publish(const struct lr_config *cfg, int argc, char **argv);
int cmd_drain(const struct lr_config *cfg, int argc, char **argv);
int cmd_report(const struct lr_config *cfg, int argc, char **argv);
int cmd_company_set(const struct lr_config *cfg, int argc, char **argv);
int cmd_settings_set(const struct lr_config *cfg, int argc, char **argv);
int cmd_settings_show(const struct lr_config *cfg, int argc, char **argv);
int cmd_schedule(const struct lr_config *cfg, int argc, char **argv);
int cmd_run(const struct lr_config *cfg, int argc, char **argv);
int cmd_send(const struct lr_config *cfg, int argc, char **argv);
int cmd_status(const struct lr_config *cfg, int argc, char **argv);
int cmd_download_url(const struct lr_config *cfg, int argc, char **argv);
int cmd_config(const struct lr_config *cfg, int argc, char **argv);

/* getopt_long with our own messages. Returns the option's val, 'h' for --help, -1 at the
 * end, or '?' after printing why the command line is wrong. Resets getopt on first call
 * (optind must be 0). */
int lr_getopt(const char *who, int argc, char **argv, const struct option *options);

/* lr_getopt also refuses an option given twice ("option --company given twice", '?');
 * this variant lets the options whose val is in `repeatable` come again (--recipient). */
int lr_getopt_repeatable(const char *who, int argc, char **argv, const struct option *options,
			 const char *repeatable);

/* After the options: refuses leftover positional arguments. Returns 0 or EX_USAGE. */
int lr_no_operands(const char *who, int argc, char **argv);

/* For a required option left out. Returns EX_USAGE. */
int lr_missing(const char *who, const char *option);

/* --company: 64 when missing, 65 when it cannot name a company ([A-Za-z0-9_-]{1,64}),
 * else 0. */
int lr_company_option(const char *who, const char *company);

#endif
