/* supervisor: run a supervision tree described by a config file, with OTP's semantics.
 *
 * The root reads the file once, checks it (all errors, FILE:LINE), prepares the run directory
 * (mode 0700, locked), writes a snapshot of the checked tree there, becomes a child subreaper,
 * and runs its children. A nested supervisor is this same program started by its parent with
 * `--sub NAME` on the snapshot. See docs/supervisor.md. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "letitcrash/exit.h"
#include "letitcrash/log.h"
#include "letitcrash/sock.h"
#include "sup.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static struct sup S;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: supervisor [-nv] [-r RUNDIR] -c FILE\n"
	    "  -c FILE    the tree to run\n"
	    "  -n         check FILE, print \"configuration OK\" or every error, and exit\n"
	    "  -r RUNDIR  run directory (default: $LETITCRASH_RUNDIR, else the config's rundir,\n"
	    "             else $XDG_RUNTIME_DIR/letitcrash, else /tmp/letitcrash-UID)\n"
	    "  -v         log every spawn too\n");
	exit(LC_EXIT_USAGE);
}

/* --- the run directory ------------------------------------------------------------------- */

static void
choose_rundir(struct sup *s, const char *opt)
{
	const char *env = getenv("LETITCRASH_RUNDIR"), *xdg = getenv("XDG_RUNTIME_DIR");
	int n;
	if (opt)
		n = snprintf(s->rundir, sizeof s->rundir, "%s", opt);
	else if (env && *env)
		n = snprintf(s->rundir, sizeof s->rundir, "%s", env);
	else if (s->cfg.rundir)
		n = snprintf(s->rundir, sizeof s->rundir, "%s", s->cfg.rundir);
	else if (xdg && *xdg)
		n = snprintf(s->rundir, sizeof s->rundir, "%s/letitcrash", xdg);
	else
		n = snprintf(s->rundir, sizeof s->rundir, "/tmp/letitcrash-%u", (unsigned)getuid());
	/* The longest socket path is RUNDIR/sup/NAME.notify; nanomsg aborts on long paths. */
	if (n < 0 || (size_t)n + 5 + SUP_NAME_MAX + 7 >= LC_SOCK_PATHMAX)
		lc_die(LC_EXIT_USAGE, "run directory %s: path too long (at most %d bytes)", s->rundir,
		    LC_SOCK_PATHMAX - 13 - SUP_NAME_MAX);
}

/* Make `dir` exist as a private directory of ours, or die. Missing parents are created too
 * (mode 0700: a state directory such as the chat's CHAT_DIR holds the run directory). */
static void
private_dir(const char *dir)
{
	struct stat st;
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s", dir);
	for (char *p = path + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = 0;
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			lc_die_sys(LC_EXIT_TEMP, "unable to create %s", path);
		*p = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		lc_die_sys(LC_EXIT_TEMP, "unable to create %s", dir);
	if (lstat(dir, &st) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to stat %s", dir);
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		lc_die(LC_EXIT_USAGE, "%s: not a directory owned by us", dir);
	if ((st.st_mode & 077) && chmod(dir, 0700) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to make %s private", dir);
}

/* Write `path` atomically: a temporary name, then rename. */
static void
write_file(const char *path, void (*fill)(FILE *, struct sup *), struct sup *s)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f)
		lc_die_sys(LC_EXIT_TEMP, "unable to write %s", tmp);
	fill(f, s);
	if (fflush(f) != 0 || ferror(f) || fclose(f) != 0 || rename(tmp, path) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to write %s", path);
}

static void fill_snapshot(FILE *f, struct sup *s)
{
	if (sup_config_write(&s->cfg, f) < 0)
		lc_die_sys(LC_EXIT_BUG, "unable to write the config snapshot");
}

static void fill_root(FILE *f, struct sup *s) { fprintf(f, "%s\n%d\n", s->me->name, (int)getpid()); }

static void
prepare_rundir(struct sup *s)
{
	char path[PATH_MAX];
	private_dir(s->rundir);
	snprintf(path, sizeof path, "%s/sup", s->rundir);
	private_dir(path);
	snprintf(path, sizeof path, "%s/lock", s->rundir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		lc_die(LC_EXIT_TEMP, "a tree is already running in %s", s->rundir);
	/* fd stays open (and locked) until we exit; supctl probes it. */
	write_file(s->snapshot, fill_snapshot, s);
}

static void
root_cleanup(void)
{
	char path[PATH_MAX];
	if (S.is_root) {
		snprintf(path, sizeof path, "%s/root", S.rundir);
		unlink(path);
		unlink(S.snapshot);
	}
	if (S.notify_path[0])
		unlink(S.notify_path);
}

/* A subreaper adopts its children's orphans: before leaving, kill and reap any still here. */
static void
reap_strays(void)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (char *t = strtok(buf, " \n"); t; t = strtok(NULL, " \n")) {
		pid_t p = (pid_t)atoi(t);
		if (p > 0 && kill(p, SIGKILL) == 0)
			waitpid(p, NULL, 0);
	}
}

static void
at_exit(void)
{
	reap_strays();
	root_cleanup();
}

/* --- signals ------------------------------------------------------------------------------- */

static void
on_signal(struct lc_loop *l, int sig, pid_t from, void *arg)
{
	struct sup *s = container_of_loop(l);
	int st;
	pid_t pid;

	switch (sig) {
	case SIGCHLD:
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			sup_on_exit(s, pid, st);
		break;
	case SIGTERM:
	case SIGINT:
		/* OTP: a supervisor obeys exit signals from its parent only. The root's parent is
		 * whoever runs the tree: the root obeys anyone. */
		if (!s->is_root && from != s->parent) {
			lc_warn("%s: ignoring SIG%s from pid %d (not my parent)", s->me->name,
			    sigabbrev_np(sig), (int)from);
			break;
		}
		lc_info("%s: stopping on SIG%s", s->me->name, sigabbrev_np(sig));
		sup_shutdown(s, END_SIGNAL, sig);
		break;
	default:
		lc_info("%s: ignoring SIG%s from pid %d", s->me->name, sigabbrev_np(sig), (int)from);
		break;
	}
}

static void
setup(struct sup *s)
{
	sigset_t set;
	sigemptyset(&set);
	for (int sig = 0, sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT };
	     sig < (int)(sizeof sigs / sizeof *sigs); sig++)
		sigaddset(&set, sigs[sig]);
	if (sup_init(s) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to initialise");
	if (lc_loop_signals(&s->loop, &set, on_signal, s) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to set up signals");
	if (sup_notify_open(s) < 0)
		lc_die_sys(LC_EXIT_TEMP, "unable to bind the notification socket in %s", s->rundir);
	if (sup_ctl_open(s) < 0)
		lc_die(LC_EXIT_TEMP, "unable to bind the control socket in %s: %s", s->rundir,
		    lc_sock_strerror(errno));
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { { "sub", required_argument, NULL, 'S' }, { 0 } };
	const char *file = NULL, *rundir = NULL, *sub = NULL;
	int check = 0, c;
	sigset_t block;

	/* Signals first: a SIGCHLD or SIGTERM before the loop exists must wait for it. */
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Everything we create in the run directory (sockets, snapshot) is ours alone; children
	 * get the umask we were given back (spawn.c). */
	sup_child_umask = umask(077);
	lc_log_init("supervisor");
	S.parent = getppid();
	S.notify_fd = -1;

	while ((c = getopt_long(argc, argv, "c:nr:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'n': check = 1; break;
		case 'r': rundir = optarg; break;
		case 'v': lc_log_set_level(LC_LOG_DEBUG); break;
		case 'S': sub = optarg; break;
		default: usage();
		}
	}
	if (!file || optind != argc)
		usage();
	/* Descriptors we inherited, but the readiness one, must not reach our children. */
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);

	int nerr = sup_config_load(&S.cfg, file, stderr);
	if (nerr != 0) {
		if (nerr > 0)
			fprintf(stderr, "supervisor: %s: %d error%s, nothing started\n", file, nerr,
			    nerr == 1 ? "" : "s");
		return nerr < 0 ? LC_EXIT_TEMP : LC_EXIT_USAGE;
	}
	if (check) {
		printf("configuration OK\n");
		return 0;
	}
	S.me = sub ? sup_config_find(&S.cfg, sub) : S.cfg.root;
	if (!S.me || S.me->type != SUP_SUPERVISOR)
		lc_die(LC_EXIT_USAGE, "%s: no supervisor named %s", file, sub);
	S.is_root = !sub;
	choose_rundir(&S, rundir);
	snprintf(S.snapshot, sizeof S.snapshot, "%s/tree.conf", S.rundir);
	/* Nested supervisors run this program again: argv[0] when it names a path (so that a
	 * tree under valgrind stays under valgrind), else /proc/self/exe. */
	if (!strchr(argv[0], '/') || !realpath(argv[0], S.self_exe)) {
		ssize_t n = readlink("/proc/self/exe", S.self_exe, sizeof S.self_exe - 1);
		if (n < 0)
			lc_die_sys(LC_EXIT_TEMP, "unable to find my own executable");
		S.self_exe[n] = 0;
	}

	if (S.is_root) {
		prepare_rundir(&S);
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/root", S.rundir);
		atexit(at_exit);
		setup(&S);
		write_file(path, fill_root, &S);
	} else {
		atexit(at_exit);
		setup(&S);
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		lc_warn_sys("unable to become a subreaper");
	sup_boot(&S);
	if (lc_loop_run(&S.loop) < 0)
		lc_die_sys(LC_EXIT_TEMP, "event loop");
	return 0;
}
