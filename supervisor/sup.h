/* letitcrash supervisor: private header. Prototypes are grouped by the file that defines them. */
#ifndef SUP_H
#define SUP_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "letitcrash/loop.h"

#define SUP_NAME_MAX   48      /* child and supervisor names: [A-Za-z0-9_.-]{1,48} */
#define SUP_INFINITY   (-1L)   /* for shutdown and start_timeout */

enum sup_type     { SUP_WORKER, SUP_SUPERVISOR };
enum sup_strategy { SUP_ONE_FOR_ONE, SUP_ONE_FOR_ALL, SUP_REST_FOR_ONE, SUP_SIMPLE_ONE_FOR_ONE };
enum sup_restart  { SUP_PERMANENT, SUP_TRANSIENT, SUP_TEMPORARY };
enum sup_shutdown { SUP_SHUTDOWN_BRUTAL, SUP_SHUTDOWN_TIMEOUT, SUP_SHUTDOWN_INFINITY };
enum sup_ready    { SUP_READY_EXEC, SUP_READY_FD, SUP_READY_NOTIFY };

/* One section of the config file: a worker, or a supervisor (the root, or a nested one, which
 * is also a child of its parent). Owned by its struct sup_config; strings are heap copies. */
struct sup_spec {
	char name[SUP_NAME_MAX + 1];
	enum sup_type type;
	int line;                       /* line of the section header in cfg->file */
	struct sup_spec *parent;        /* NULL for the root */

	/* as a child (every spec but the root) */
	char **argv;                    /* workers: exec split into words, argv[0] an absolute path;
	                                   NULL-terminated. NULL for supervisors. */
	char **env;                     /* "KEY=VALUE" added to the child's environment; NULL-term. */
	size_t nenv;
	char *dir;                      /* working directory, or NULL: inherit */
	enum sup_restart restart;       /* default permanent */
	enum sup_shutdown shutdown;     /* default: workers 5000 ms, supervisors infinity */
	long shutdown_ms;               /* for SUP_SHUTDOWN_TIMEOUT */
	long start_timeout_ms;          /* SUP_INFINITY or ms; default workers 5000, sups infinity */
	enum sup_ready ready;           /* default exec; supervisors always fd (internal) */
	int ready_fd;                   /* for SUP_READY_FD: the descriptor number in the child (3) */

	/* as a supervisor */
	enum sup_strategy strategy;     /* default one_for_one */
	int intensity;                  /* default 1 (OTP's default) */
	int period;                     /* seconds, default 5 (OTP's default) */
	long backoff_min_ms;            /* restart delay; 0 = restart at once (OTP) */
	long backoff_max_ms;            /* doubling up to this; 0 = no back-off */
	struct sup_spec **children;     /* in start order */
	size_t nchildren;
};

/* A whole tree, as read from one file. */
struct sup_config {
	char *file;                     /* the path given, for messages */
	char *rundir;                   /* the root's `rundir` key, or NULL */
	struct sup_spec *root;
	struct sup_spec **specs;        /* every section, in file order (instances expanded) */
	size_t nspecs;
};

/* config.c */
/* Read and check `path`. Every error is written to errs as "FILE:LINE: message\n" (all of
 * them). Returns the number of errors (0: cfg is complete and valid; otherwise cfg is freed
 * and zeroed), or -1 with errno if the file cannot be read at all (also reported on errs). */
int  sup_config_load(struct sup_config *cfg, const char *path, FILE *errs);
/* Same, from a string in memory; `name` is used in messages. */
int  sup_config_parse(struct sup_config *cfg, const char *name, const char *text, FILE *errs);
void sup_config_free(struct sup_config *cfg);
struct sup_spec *sup_config_find(const struct sup_config *cfg, const char *name);
/* Write cfg back as an equivalent config file (values fully expanded, `$` escaped, paths
 * absolute): nested supervisors read this snapshot, so a whole tree runs on one reading. */
int  sup_config_write(const struct sup_config *cfg, FILE *out);
/* Build a spec for a child added at run time from "key=value" words (the same keys and
 * checks as a config section). Returns NULL and writes the errors to errs. */
struct sup_spec *sup_spec_from_words(const char *name, enum sup_type type, char *const *words,
    size_t nwords, FILE *errs);
void sup_spec_free(struct sup_spec *spec);
struct sup_spec *sup_spec_dup(const struct sup_spec *spec);
const char *sup_strategy_name(enum sup_strategy);
const char *sup_restart_name(enum sup_restart);
int  sup_name_valid(const char *name);

/* intensity.c: OTP's restart intensity, a pure module. */
struct sup_intensity {
	int intensity, period;          /* at most `intensity` restarts in `period` seconds */
	int64_t *stamps;                /* restart times (s), newest last; capacity intensity+1 */
	int n;
};
int  sup_intensity_init(struct sup_intensity *it, int intensity, int period);
void sup_intensity_fini(struct sup_intensity *it);
/* Record a restart at `now_s` (whole seconds of CLOCK_MONOTONIC). Returns 1 if it is allowed,
 * 0 if it exceeds the intensity (the supervisor must give up). A restart at second T still
 * counts at second T+period (OTP keeps stamps >= now - period). */
int  sup_intensity_add(struct sup_intensity *it, int64_t now_s);

#endif
