/* options: a daemon's settings declared once, in a table (name, type,
 * bounds, default, help), and read from a config file ("name = value"
 * lines, '#' comments) and then from flags ("--name=value" or "--name
 * value"), so flags win.  Values land in a caller's struct at the given
 * offsets; strings are malloc'd (options_free() frees them).
 *
 * A default may mention another string option as {name}, expanded after
 * everything is read ("ipc://{rundir}/secd.sock"). */
#ifndef APPFW_OPTIONS_H
#define APPFW_OPTIONS_H 1

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum option_type {
    OPT_STRING,                 /* char * */
    OPT_INT,                    /* int, decimal */
    OPT_MODE,                   /* int, octal file mode */
};

struct option_def {
    const char *name;
    enum option_type type;
    const char *dflt;
    int64_t min, max;           /* OPT_INT and OPT_MODE. */
    size_t offset;
    const char *help;
};

/* Sets every option to its default. */
void options_defaults(const struct option_def *, size_t n, void *base);

/* Applies "name = value" lines of 'path'.  Returns NULL or a malloc'd
 * message ("FILE:LINE: ..."). */
char *options_read_file(const struct option_def *, size_t n, void *base,
                        const char *path);

/* Applies one setting.  Returns NULL or a malloc'd message. */
char *options_set(const struct option_def *, size_t n, void *base,
                  const char *name, const char *value);

/* Expands {name} references in string options. */
char *options_expand(const struct option_def *, size_t n, void *base);

/* Prints "  --name=VALUE  help (default: ...)" lines. */
void options_print_help(const struct option_def *, size_t n, FILE *);

/* Prints every setting as "name = value" (for -n). */
void options_print(const struct option_def *, size_t n, const void *base,
                   FILE *);

void options_free(const struct option_def *, size_t n, void *base);

/* What a daemon's command line asked for besides settings. */
enum options_action {
    OPTIONS_RUN,                /* Start. */
    OPTIONS_HELP,               /* -h, --help: print usage, exit 0. */
    OPTIONS_CHECK,              /* -n, --check: validate, print, exit 0. */
};

/* The whole command line of a daemon: "-c FILE"/"--config=FILE" is read
 * first (so flags override it), then "--name=value" or "--name value"
 * flags, then {name} references are expanded.  Returns NULL and sets
 * '*action', or a malloc'd message. */
char *options_parse_args(const struct option_def *, size_t n, void *base,
                         int argc, char **argv, enum options_action *);

/* The start of every daemon's main(): defaults, then
 * options_parse_args(); --help calls 'usage'; -n prints the settings; then
 * the log level and log file named by the string settings at 'log_level'
 * and 'log_file' (pointers into 'base') take effect.  Returns -1 if the
 * daemon should go on, else the exit status to return at once (errors are
 * printed as "PROGRAM: message"; settings are freed). */
int options_daemon_start(const struct option_def *, size_t n, void *base,
                         int argc, char **argv, const char *program,
                         void (*usage)(void), char *const *log_level,
                         char *const *log_file);

#endif /* options.h */
