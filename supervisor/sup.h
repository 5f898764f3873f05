/* letitcrash supervisor: private header. Prototypes are grouped by the file that defines them. */
#ifndef SUP_H
#define SUP_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <stddef.h>

#include "letitcrash/loop.h"
#include "letitcrash/sock.h"

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

/* --- the running supervisor ------------------------------------------------------------ */

enum ch_state {
	CH_DOWN,        /* no process: never started, stopped, ignored, or exited and handled */
	CH_STARTING,    /* spawned, waiting for readiness (or for the start-timeout kill to land) */
	CH_RUNNING,     /* ready */
	CH_STOPPING,    /* SIGTERM (or SIGKILL) sent, waiting for the exit */
};

struct op;

/* One child of this supervisor (a worker or a nested supervisor process). */
struct child {
	struct sup_spec *spec;          /* the config's spec, or owned (dynamic children) */
	int owned;
	char name[SUP_NAME_MAX + 1];
	pid_t pid;                      /* 0 when there is no process */
	enum ch_state state;
	unsigned n;                     /* incarnation: number of processes spawned */
	unsigned restarts;              /* starts after the first one */
	int ready;                      /* this incarnation became ready */
	int64_t since_ms;               /* when it became ready (monotonic) */
	int64_t spawned_ms;
	int rfd;                        /* readiness pipe, read end, or -1 */
	struct lc_io rio;
	struct lc_timer timer;          /* start timeout, or shutdown's SIGKILL deadline */
	int timed_out;                  /* killed because its start timed out */
	int exited;                     /* an exit reaped but not handled yet (queued) */
	int wstatus;                    /* its wait status */
	int restarting;                 /* OTP's {restarting, Pid}: a restart is pending */
	unsigned backoff;               /* consecutive quick restarts, for the back-off */
	char extra[256];                /* simple_one_for_one: the extra args, for display */
};

enum op_kind {
	OP_BOOT, OP_EXIT, OP_RETRY, OP_START_CHILD, OP_RESTART_CHILD, OP_TERMINATE_CHILD,
	OP_DELETE_CHILD, OP_SHUTDOWN,
};

enum sup_end { END_NONE, END_SIGNAL, END_STOP, END_GAVE_UP, END_BOOT_FAILED };

/* A queued or running operation. The supervisor runs one at a time, in arrival order, the way
 * an OTP supervisor handles one message at a time: a program of stops (in order) then starts
 * (in order). Child exits that arrive meanwhile are queued as OP_EXIT. */
struct op {
	enum op_kind kind;
	struct op *next;
	struct child *child;            /* subject */
	unsigned n;                     /* OP_EXIT, OP_RETRY: the incarnation it is about */
	struct sup_spec *spec;          /* OP_START_CHILD: owned until adopted */
	char **extra;                   /* OP_START_CHILD on simple_one_for_one: extra args */
	int has_req;
	struct lc_sock_req req;
	struct child **stops;           /* program: stop these, in order (parallel: all at once) */
	size_t nstops, istop;
	int parallel;
	struct child **starts;          /* then start these, in order */
	size_t nstarts, istart;
	int64_t wait_until;             /* back-off before the starts */
	struct lc_timer timer;
	int failed;                     /* a start failed: starts[istart] */
	int aborted;                    /* the supervisor is shutting down: drop it */
	int drop_temporary;             /* remove temporary children once stopped (OTP) */
	char why[128];
};

#define SUP_RING 1024

struct sup {
	struct sup_config cfg;
	struct sup_spec *me;            /* this supervisor's spec in cfg */
	int is_root;
	pid_t parent;                   /* our parent process (the parent supervisor) */
	char rundir[128];
	char self_exe[4096];
	char snapshot[160];             /* RUNDIR/tree.conf */
	struct lc_loop loop;

	struct child **kids;            /* in start order */
	size_t nkids, capkids;
	struct sup_intensity it;
	unsigned dyn_seq;               /* simple_one_for_one: next generated name */

	struct op *cur, *qhead, *qtail;
	enum sup_end ending;
	int end_signal;
	int booted;
	int in_advance;

	int ctl, pub;                   /* nanomsg sockets */
	struct lc_io ctlio;
	int notify_fd;                  /* NOTIFY_SOCKET datagram socket, or -1 */
	struct lc_io notio;
	char notify_path[160];

	uint64_t seq;                   /* events published */
	char *ring[SUP_RING];           /* the last events, as lines, for `events SEQ` */
};

#define container_of_loop(l) ((struct sup *)(void *)((char *)(l) - offsetof(struct sup, loop)))

/* core.c */
int  sup_init(struct sup *s);
void sup_boot(struct sup *s);
void sup_on_exit(struct sup *s, pid_t pid, int wstatus);
void sup_on_ready(struct sup *s, struct child *c);
void sup_shutdown(struct sup *s, enum sup_end why, int signo);
void sup_enqueue(struct sup *s, struct op *op);
struct op *sup_op_new(enum op_kind kind, struct child *c);
struct child *sup_find(struct sup *s, const char *name_or_pid);
struct child *sup_find_pid(struct sup *s, pid_t pid);
int  sup_is_simple(const struct sup *s);
const char *sup_state_name(const struct child *c);

/* spawn.c */
extern mode_t sup_child_umask;          /* the umask children get (ours is 077) */
/* Fork and exec c's process (pdeathsig, own session, clean fds and signals, readiness fd or
 * NOTIFY_SOCKET). Returns 0 with c->pid set, or -1 with errno (exec failed: the errno of
 * execve). */
int  sup_spawn(struct sup *s, struct child *c);
void sup_readiness_close(struct sup *s, struct child *c);
int  sup_notify_open(struct sup *s);
/* Tell our own parent we are ready (LETITCRASH_READY_FD or NOTIFY_SOCKET). */
void sup_notify_parent(void);

/* event.c */
/* Publish and log an event: `what` is start, exit, ignore, start_error, child_terminated,
 * shutdown_error, give_up, spawn. */
void sup_event(struct sup *s, const char *what, const struct child *c, const char *reason);
void sup_event_fini(struct sup *s);

/* ctl.c */
int  sup_ctl_open(struct sup *s);
void sup_ctl_close(struct sup *s);
void sup_reply(struct sup *s, struct op *op, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
