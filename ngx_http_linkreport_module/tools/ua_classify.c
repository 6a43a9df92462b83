/*
 * ua_classify: reads user agents, one per line, and prints the classifier's verdict as
 * tab-separated fields (browser, platform, platform version, engine, device type, then
 * uap-core's raw family, OS family, OS major, OS minor). Used by the tests and by the
 * accuracy checks; links the very same linkreport_ua.c as the nginx module.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linkreport_ua.h"

int
main(int argc, char **argv)
{
    char             err[256], *line = NULL;
    size_t           cap = 0;
    ssize_t          n;
    unsigned         skipped;
    lr_ua_result_t   r;
    lr_ua_parsers_t *p;
    const char      *path = argc > 1 ? argv[1] : "/usr/share/uap-core/regexes.yaml";

    if (argc > 2 || (argc == 2 && strcmp(argv[1], "--help") == 0)) {
        fprintf(stderr, "usage: ua_classify [REGEXES.yaml] < user-agents.txt\n");
        return 64;
    }

    p = lr_ua_load(path, err, sizeof(err), &skipped);
    if (p == NULL) {
        fprintf(stderr, "ua_classify: %s: %s\n", path, err);
        return 66;
    }

    while ((n = getline(&line, &cap, stdin)) >= 0) {
        if (n > 0 && line[n - 1] == '\n') {
            line[--n] = '\0';
        }
        lr_ua_classify(p, line, (size_t) n, &r);
        printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.browser, r.platform,
               r.platform_version, r.engine, r.device_type, r.ua_family, r.os_family,
               r.os_major, r.os_minor);
    }

    free(line);
    lr_ua_free(p);
    return 0;
}
