/* Unit tests for supervisor/config.c: valid configs (defaults, every key, ${VAR} expansion,
 * instances, quoting, PATH lookup, continuation lines), the write -> parse round trip,
 * run-time children, and the corpus of broken configs in tests/config/bad (each NNN-name.conf
 * with its exact errors in NNN-name.err, file names relative to the corpus directory).
 * Run from the repository root, or set LC_SRCDIR to it. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../supervisor/sup.h"

static const char *srcdir(void)
{
	const char *d = getenv("LC_SRCDIR");

	return d && *d ? d : ".";
}

/* Parse text; the errors are returned in *errs (heap, "" when none). */
static int parse(struct sup_config *cfg, const char *text, char **errs)
{
	size_t n;
	FILE *f = open_memstream(errs, &n);
	int r;

	assert_non_null(f);
	r = sup_config_parse(cfg, "t.conf", text, f);
	fclose(f);
	return r;
}

/* Parse text that must be valid. */
static void parse_ok(struct sup_config *cfg, const char *text)
{
	char *errs;
	int r = parse(cfg, text, &errs);

	if (r != 0)
		fprintf(stderr, "unexpected errors:\n%s", errs);
	free(errs);
	assert_int_equal(r, 0);
	assert_non_null(cfg->root);
}

/* Parse text that must fail with exactly `want` (all the error lines). */
static void parse_bad(const char *text, const char *want)
{
	struct sup_config cfg;
	char *errs;
	int r = parse(&cfg, text, &errs);

	assert_true(r > 0);
	assert_string_equal(errs, want);
	assert_null(cfg.root);
	assert_int_equal(cfg.nspecs, 0);
	free(errs);
}

static void test_defaults(void **state)
{
	struct sup_config cfg;
	struct sup_spec *root, *w;

	(void)state;
	parse_ok(&cfg, "[supervisor main]\n[worker a]\nexec = /bin/true\n");
	root = cfg.root;
	assert_string_equal(cfg.file, "t.conf");
	assert_null(cfg.rundir);
	assert_int_equal(cfg.nspecs, 2);
	assert_ptr_equal(cfg.specs[0], root);
	assert_string_equal(root->name, "main");
	assert_int_equal(root->type, SUP_SUPERVISOR);
	assert_null(root->parent);
	assert_int_equal(root->strategy, SUP_ONE_FOR_ONE);
	assert_int_equal(root->intensity, 1);
	assert_int_equal(root->period, 5);
	assert_int_equal(root->backoff_min_ms, 0);
	assert_int_equal(root->backoff_max_ms, 0);
	assert_int_equal(root->nchildren, 1);
	w = root->children[0];
	assert_ptr_equal(w, sup_config_find(&cfg, "a"));
	assert_ptr_equal(w->parent, root);
	assert_int_equal(w->line, 2);
	assert_int_equal(w->type, SUP_WORKER);
	assert_string_equal(w->argv[0], "/bin/true");
	assert_null(w->argv[1]);
	assert_int_equal(w->nenv, 0);
	assert_null(w->dir);
	assert_int_equal(w->restart, SUP_PERMANENT);
	assert_int_equal(w->shutdown, SUP_SHUTDOWN_TIMEOUT);
	assert_int_equal(w->shutdown_ms, 5000);
	assert_int_equal(w->start_timeout_ms, 5000);
	assert_int_equal(w->ready, SUP_READY_EXEC);
	assert_null(sup_config_find(&cfg, "b"));
	sup_config_free(&cfg);
	assert_null(cfg.specs);
}

static void test_supervisor_defaults(void **state)
{
	struct sup_config cfg;
	struct sup_spec *s;

	(void)state;
	parse_ok(&cfg, "[supervisor main]\n[supervisor sub]\n");
	s = sup_config_find(&cfg, "sub");
	assert_non_null(s);
	assert_null(s->argv);
	assert_int_equal(s->shutdown, SUP_SHUTDOWN_INFINITY);
	assert_int_equal(s->start_timeout_ms, SUP_INFINITY);
	assert_int_equal(s->ready, SUP_READY_FD);
	assert_int_equal(s->ready_fd, 3);
	assert_int_equal(s->restart, SUP_PERMANENT);
	assert_ptr_equal(s->parent, cfg.root);
	sup_config_free(&cfg);
}

static void test_every_key(void **state)
{
	struct sup_config cfg;
	struct sup_spec *r, *w, *s;

	(void)state;
	parse_ok(&cfg,
	    "[supervisor main]\nstrategy = rest_for_one\nintensity = 7\nperiod = 30\n"
	    "backoff = 10 800\nrundir = /run/lc\n"
	    "[worker w]\nparent = sub\nexec = /bin/true a\nrestart = transient\n"
	    "shutdown = brutal_kill\nstart_timeout = infinity\nready = fd:9\nenv = A=1\n"
	    "env = B=x=y\ndir = /\n"
	    "[supervisor sub]\nstrategy = simple_one_for_one\nintensity = 0\nperiod = 1\n"
	    "backoff = 5\nrestart = temporary\nshutdown = 250\nstart_timeout = 1\nenv = S=1\n"
	    "dir = /tmp\n");
	r = cfg.root;
	assert_int_equal(r->strategy, SUP_REST_FOR_ONE);
	assert_int_equal(r->intensity, 7);
	assert_int_equal(r->period, 30);
	assert_int_equal(r->backoff_min_ms, 10);
	assert_int_equal(r->backoff_max_ms, 800);
	assert_string_equal(cfg.rundir, "/run/lc");
	w = sup_config_find(&cfg, "w");
	s = sup_config_find(&cfg, "sub");
	assert_ptr_equal(w->parent, s);
	assert_int_equal(s->nchildren, 1);
	assert_int_equal(r->nchildren, 1);
	assert_string_equal(w->argv[1], "a");
	assert_int_equal(w->restart, SUP_TRANSIENT);
	assert_int_equal(w->shutdown, SUP_SHUTDOWN_BRUTAL);
	assert_int_equal(w->start_timeout_ms, SUP_INFINITY);
	assert_int_equal(w->ready, SUP_READY_FD);
	assert_int_equal(w->ready_fd, 9);
	assert_int_equal(w->nenv, 2);
	assert_string_equal(w->env[1], "B=x=y");
	assert_null(w->env[2]);
	assert_string_equal(w->dir, "/");
	assert_int_equal(s->strategy, SUP_SIMPLE_ONE_FOR_ONE);
	assert_int_equal(s->intensity, 0);
	assert_int_equal(s->period, 1);
	assert_int_equal(s->backoff_min_ms, 5);
	assert_int_equal(s->backoff_max_ms, 5);
	assert_int_equal(s->restart, SUP_TEMPORARY);
	assert_int_equal(s->shutdown, SUP_SHUTDOWN_TIMEOUT);
	assert_int_equal(s->shutdown_ms, 250);
	assert_int_equal(s->start_timeout_ms, 1);
	assert_string_equal(s->env[0], "S=1");
	assert_string_equal(s->dir, "/tmp");
	/* file order: w comes before its parent */
	assert_ptr_equal(cfg.specs[1], w);
	sup_config_free(&cfg);
}

static void test_ready_and_comments(void **state)
{
	struct sup_config cfg;
	struct sup_spec *a, *b;

	(void)state;
	parse_ok(&cfg, "\xEF\xBB\xBF# comment\n[supervisor main] ; the root\n\n"
	    "[worker a]\r\nexec: /bin/true  ; inline comment\r\nready = fd\n"
	    "[worker b]\nexec = /bin/true x;y\nready = notify\n  # not a continuation\n");
	a = sup_config_find(&cfg, "a");
	b = sup_config_find(&cfg, "b");
	assert_int_equal(a->ready, SUP_READY_FD);
	assert_int_equal(a->ready_fd, 3);
	assert_null(a->argv[1]);
	assert_int_equal(b->ready, SUP_READY_NOTIFY);
	assert_string_equal(b->argv[1], "x;y");
	sup_config_free(&cfg);
}

static void test_env_expansion(void **state)
{
	struct sup_config cfg;
	struct sup_spec *w;

	(void)state;
	setenv("LC_T_N", "7", 1);
	setenv("LC_T_CMD", "/bin/echo 'two words' x", 1);
	setenv("LC_T_EMPTY", "", 1);
	unsetenv("LC_T_UNSET");
	parse_ok(&cfg, "[supervisor main]\nintensity = ${LC_T_N}\nperiod = ${LC_T_UNSET:-9}\n"
	    "[worker a]\nexec = ${LC_T_CMD} $$HOME $HOME a$b ${LC_T_EMPTY}\n"
	    "env = A=${LC_T_UNSET:-}\nenv = B=${LC_T_EMPTY:-dflt}\nenv = C=$${LC_T_N}\n");
	assert_int_equal(cfg.root->intensity, 7);
	assert_int_equal(cfg.root->period, 9);
	w = sup_config_find(&cfg, "a");
	assert_string_equal(w->argv[0], "/bin/echo");
	assert_string_equal(w->argv[1], "two words");
	assert_string_equal(w->argv[2], "x");
	assert_string_equal(w->argv[3], "$HOME");
	assert_string_equal(w->argv[4], "$HOME");
	assert_string_equal(w->argv[5], "a$b");
	assert_null(w->argv[6]);
	assert_string_equal(w->env[0], "A=");
	assert_string_equal(w->env[1], "B=dflt");
	assert_string_equal(w->env[2], "C=${LC_T_N}");
	sup_config_free(&cfg);
}

static void test_env_unrepresentable(void **state)
{
	(void)state;
	setenv("LC_T_NL", "a\nb", 1);
	setenv("LC_T_SEMI", "x ;y", 1);
	setenv("LC_T_SP", "/tmp ", 1);
	parse_bad("[supervisor main]\n[worker a]\nexec = /bin/echo \"${LC_T_SEMI}\"\n"
	    "env = A=${LC_T_NL}\nenv = B=${LC_T_SEMI}\ndir = ${LC_T_SP}\n",
	    "t.conf:3: exec: word \"x ;y\" cannot be written back to a config file: a \";\" after "
	    "a space would start a comment\n"
	    "t.conf:4: env: \"A=a?b\" cannot be written back to a config file: it contains a line "
	    "break\n"
	    "t.conf:5: env: \"B=x ;y\" cannot be written back to a config file: a \";\" after a "
	    "space would start a comment\n"
	    "t.conf:6: dir: \"/tmp \" cannot be written back to a config file: it starts or ends "
	    "with a space\n");
}

static void test_quoting(void **state)
{
	struct sup_config cfg;
	char **v;

	(void)state;
	parse_ok(&cfg, "[supervisor main]\n[worker a]\n"
	    "exec = /bin/echo 'a \"b\" \\c' \"d \\\"e\\\" \\\\ \\$ \\n\" f\\ g h'i'\"j\" '' \"\"\n");
	v = sup_config_find(&cfg, "a")->argv;
	assert_string_equal(v[1], "a \"b\" \\c");
	assert_string_equal(v[2], "d \"e\" \\ $ \\n");
	assert_string_equal(v[3], "f g");
	assert_string_equal(v[4], "hij");
	assert_string_equal(v[5], "");
	assert_string_equal(v[6], "");
	assert_null(v[7]);
	sup_config_free(&cfg);
}

static void test_continuation(void **state)
{
	struct sup_config cfg;
	struct sup_spec *w;

	(void)state;
	parse_ok(&cfg, "[supervisor main]\n[worker a]\nexec = /bin/echo one\n  two 'three four'\n"
	    "\tfive\nenv = A=1\n  B=2\n# comment between\n  C=3\nenv = D=4\n");
	w = sup_config_find(&cfg, "a");
	assert_string_equal(w->argv[2], "two");
	assert_string_equal(w->argv[3], "three four");
	assert_string_equal(w->argv[4], "five");
	assert_null(w->argv[5]);
	assert_int_equal(w->nenv, 4);
	assert_string_equal(w->env[2], "C=3");
	assert_string_equal(w->env[3], "D=4");
	sup_config_free(&cfg);
}

static void test_instances(void **state)
{
	struct sup_config cfg;
	struct sup_spec *pool, *w;

	(void)state;
	parse_ok(&cfg, "[supervisor main]\n[supervisor pool]\n[worker w]\nparent = pool\n"
	    "exec = /bin/echo n=%i %i%i %%i\ninstances = 3\nenv = X=1\n[worker after]\n"
	    "exec = /bin/echo %i\n");
	assert_int_equal(cfg.nspecs, 6);
	pool = sup_config_find(&cfg, "pool");
	assert_int_equal(pool->nchildren, 3);
	assert_null(sup_config_find(&cfg, "w"));
	w = sup_config_find(&cfg, "w.2");
	assert_ptr_equal(pool->children[2], w);
	assert_ptr_equal(cfg.specs[4], w);
	assert_ptr_equal(w->parent, pool);
	assert_string_equal(w->argv[1], "n=2");
	assert_string_equal(w->argv[2], "22");
	assert_string_equal(w->argv[3], "%2");
	assert_int_equal(w->nenv, 2);
	assert_string_equal(w->env[0], "X=1");
	assert_string_equal(w->env[1], "LETITCRASH_INSTANCE=2");
	assert_string_equal(sup_config_find(&cfg, "w.0")->env[1], "LETITCRASH_INSTANCE=0");
	/* a program named with %i is resolved per instance; the first failure is reported */
	parse_bad("[supervisor main]\n[worker w]\nexec = /bin/tru%i\ninstances = 2\n",
	    "t.conf:3: exec: \"/bin/tru0\": no such file\n");
	/* %i only means something with instances */
	assert_string_equal(sup_config_find(&cfg, "after")->argv[1], "%i");
	sup_config_free(&cfg);
}

static void test_path_lookup(void **state)
{
	struct sup_config cfg;
	char *old = strdup(getenv("PATH") ? getenv("PATH") : "/bin:/usr/bin");
	const char *a0;

	(void)state;
	parse_ok(&cfg, "[supervisor main]\n[worker a]\nexec = sh -c true\n");
	a0 = sup_config_find(&cfg, "a")->argv[0];
	assert_true(a0[0] == '/');
	assert_string_equal(strrchr(a0, '/'), "/sh");
	assert_int_equal(access(a0, X_OK), 0);
	sup_config_free(&cfg);
	/* the first directory of PATH that has it wins; missing ones are skipped */
	setenv("PATH", "/nonexistent-lc:/bin:/usr/bin", 1);
	parse_ok(&cfg, "[supervisor main]\n[worker a]\nexec = sleep 1\n");
	assert_string_equal(sup_config_find(&cfg, "a")->argv[0], "/bin/sleep");
	sup_config_free(&cfg);
	setenv("PATH", "/nonexistent-lc", 1);
	parse_bad("[supervisor main]\n[worker a]\nexec = sleep 1\n",
	    "t.conf:3: exec: no such executable \"sleep\" in PATH\n");
	setenv("PATH", old, 1);
	free(old);
}

/* A temp dir with bin/run (executable) and data/; relative paths are relative to it. */
static void test_relative_paths(void **state)
{
	char dir[] = "/tmp/lc-test-config-XXXXXX", path[PATH_MAX], want[PATH_MAX];
	struct sup_config cfg;
	struct sup_spec *w;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/bin", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof path, "%s/data", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof path, "%s/bin/run", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("#!/bin/sh\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
	snprintf(path, sizeof path, "%s/x.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("[supervisor main]\nrundir = run\n[worker a]\nexec = bin/run\ndir = data\n"
	    "[worker b]\nexec = ./bin/run\ndir = .\n", f);
	fclose(f);
	assert_int_equal(sup_config_load(&cfg, path, stderr), 0);
	w = sup_config_find(&cfg, "a");
	snprintf(want, sizeof want, "%s/bin/run", dir);
	assert_string_equal(w->argv[0], want);
	assert_string_equal(sup_config_find(&cfg, "b")->argv[0], want);
	snprintf(want, sizeof want, "%s/data", dir);
	assert_string_equal(w->dir, want);
	assert_string_equal(sup_config_find(&cfg, "b")->dir, dir);
	snprintf(want, sizeof want, "%s/run", dir);
	assert_string_equal(cfg.rundir, want);
	sup_config_free(&cfg);
	snprintf(want, sizeof want, "rm -rf '%s'", dir);
	assert_int_equal(system(want), 0);
}

static void test_load_missing_file(void **state)
{
	struct sup_config cfg;

	(void)state;
	errno = 0;
	assert_int_equal(sup_config_load(&cfg, "/nonexistent-lc/x.conf", NULL), -1);
	assert_int_equal(errno, ENOENT);
	assert_null(cfg.root);
}

static void test_errors_counted_without_stream(void **state)
{
	struct sup_config cfg;

	(void)state;
	assert_int_equal(sup_config_parse(&cfg, "t.conf", "[supervisor main]\nbogus = 1\n"
	    "period = x\nnonsense\n", NULL), 3);
	assert_null(cfg.root);
}

static void test_nul_and_long_lines(void **state)
{
	struct sup_config cfg;
	char text[600];
	FILE *f;
	char *errs;
	size_t n;

	(void)state;
	/* 199 bytes is the longest line */
	snprintf(text, sizeof text, "[supervisor main]\n[worker a]\nexec = /bin/echo %0182d\n", 0);
	parse_ok(&cfg, text);
	sup_config_free(&cfg);
	snprintf(text, sizeof text, "[supervisor main]\n[worker a]\nexec = /bin/echo %0183d\n", 0);
	parse_bad(text, "t.conf:3: line too long (more than 199 bytes)\n");
	/* a NUL byte (only possible through sup_config_load) */
	char path[] = "/tmp/lc-test-nul-XXXXXX";
	int fd = mkstemp(path);
	static const char nul[] = "[supervisor main]\n[worker a]\nexec = /bin/true\0x\n";

	assert_true(fd >= 0);
	assert_int_equal(write(fd, nul, sizeof nul - 1), sizeof nul - 1);
	close(fd);
	assert_non_null(f = open_memstream(&errs, &n));
	assert_int_equal(sup_config_load(&cfg, path, f), 1);
	fclose(f);
	assert_non_null(strstr(errs, ":3: the line contains a NUL byte\n"));
	free(errs);
	unlink(path);
}

static void assert_spec_equal(const struct sup_spec *a, const struct sup_spec *b)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->type, b->type);
	if (a->parent || b->parent)
		assert_string_equal(a->parent->name, b->parent->name);
	for (size_t i = 0; a->argv && a->argv[i]; i++)
		assert_string_equal(a->argv[i], b->argv[i]);
	assert_true((a->argv == NULL) == (b->argv == NULL));
	assert_int_equal(a->nenv, b->nenv);
	for (size_t i = 0; i < a->nenv; i++)
		assert_string_equal(a->env[i], b->env[i]);
	assert_true((a->dir == NULL) == (b->dir == NULL));
	if (a->dir)
		assert_string_equal(a->dir, b->dir);
	assert_int_equal(a->restart, b->restart);
	assert_int_equal(a->shutdown, b->shutdown);
	assert_int_equal(a->shutdown_ms, b->shutdown_ms);
	assert_int_equal(a->start_timeout_ms, b->start_timeout_ms);
	assert_int_equal(a->ready, b->ready);
	assert_int_equal(a->ready_fd, b->ready_fd);
	assert_int_equal(a->strategy, b->strategy);
	assert_int_equal(a->intensity, b->intensity);
	assert_int_equal(a->period, b->period);
	assert_int_equal(a->backoff_min_ms, b->backoff_min_ms);
	assert_int_equal(a->backoff_max_ms, b->backoff_max_ms);
	assert_int_equal(a->nchildren, b->nchildren);
	for (size_t i = 0; i < a->nchildren; i++)
		assert_string_equal(a->children[i]->name, b->children[i]->name);
}

/* cfg written, read back: the same tree; written again: the same text. */
static void assert_round_trip(const struct sup_config *cfg)
{
	struct sup_config back;
	char *text, *text2;
	size_t n;
	FILE *f;

	assert_non_null(f = open_memstream(&text, &n));
	assert_int_equal(sup_config_write(cfg, f), 0);
	fclose(f);
	parse_ok(&back, text);
	assert_int_equal(back.nspecs, cfg->nspecs);
	assert_string_equal(back.root->name, cfg->root->name);
	assert_true((back.rundir == NULL) == (cfg->rundir == NULL));
	if (cfg->rundir)
		assert_string_equal(back.rundir, cfg->rundir);
	for (size_t i = 0; i < cfg->nspecs; i++)
		assert_spec_equal(cfg->specs[i], back.specs[i]);
	assert_non_null(f = open_memstream(&text2, &n));
	assert_int_equal(sup_config_write(&back, f), 0);
	fclose(f);
	assert_string_equal(text, text2);
	free(text);
	free(text2);
	sup_config_free(&back);
}

static void test_round_trip(void **state)
{
	struct sup_config cfg;
	char word[200];
	char text[1024];

	(void)state;
	setenv("LC_T_DOLLAR", "it's $5 \"quoted\" \\ x;y #y", 1);
	memset(word, 'w', 150);
	word[150] = '\0';
	snprintf(text, sizeof text, "[supervisor main]\nbackoff = 7 9\nrundir = /run/x\n"
	    "[worker a]\nexec = /bin/echo \"${LC_T_DOLLAR}\" '' ';' '#' %s\n  %s '[x]' %%i\n"
	    "env = A=$$B ${LC_T_DOLLAR}\ndir = /\nready = fd:200\n"
	    "[supervisor s]\nstrategy = simple_one_for_one\nshutdown = brutal_kill\n"
	    "[worker p]\nparent = s\nexec = /bin/echo %%i\ninstances = 1\n", word, word);
	parse_ok(&cfg, text);
	assert_round_trip(&cfg);
	sup_config_free(&cfg);
}

static void test_round_trip_samples(void **state)
{
	const char *names[] = { "minimal", "full", "tree" };
	char path[PATH_MAX];
	struct sup_config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/tests/config/good/%s.conf", srcdir(), names[i]);
		assert_int_equal(sup_config_load(&cfg, path, stderr), 0);
		assert_round_trip(&cfg);
		sup_config_free(&cfg);
	}
}

static void test_write_refuses(void **state)
{
	struct sup_config cfg;
	FILE *f = fopen("/dev/null", "w");
	char *saved;

	(void)state;
	parse_ok(&cfg, "[supervisor main]\n[worker a]\nexec = /bin/true\nenv = A=1\n");
	saved = cfg.specs[1]->env[0];
	cfg.specs[1]->env[0] = "A=x\ny";
	errno = 0;
	assert_int_equal(sup_config_write(&cfg, f), -1);
	assert_int_equal(errno, EINVAL);
	cfg.specs[1]->env[0] = "A=x ;y";
	assert_int_equal(sup_config_write(&cfg, f), -1);
	cfg.specs[1]->env[0] = saved;
	saved = cfg.specs[1]->argv[0];
	cfg.specs[1]->argv[0] = "/bin/a ;b";
	assert_int_equal(sup_config_write(&cfg, f), -1);
	cfg.specs[1]->argv[0] = saved;
	assert_int_equal(sup_config_write(&cfg, f), 0);
	sup_config_free(&cfg);
	fclose(f);
}

static void test_from_words(void **state)
{
	char *ok[] = { "exec=sleep 5", "restart=temporary", "env=A=1", "env=B=2", "ready=fd:4" };
	char *bad[] = { "exec=/bin/true", "parent=main", "restart=always", "oops", "instances=2",
		"bogus=1", "exec=/bin/false" };
	char *sup[] = { "strategy=one_for_all", "shutdown=infinity" };
	struct sup_spec *s, *d;
	char *errs;
	size_t n;
	FILE *f;

	(void)state;
	s = sup_spec_from_words("dyn.1", SUP_WORKER, ok, 5, stderr);
	assert_non_null(s);
	assert_string_equal(s->name, "dyn.1");
	assert_string_equal(strrchr(s->argv[0], '/'), "/sleep");
	assert_string_equal(s->argv[1], "5");
	assert_int_equal(s->restart, SUP_TEMPORARY);
	assert_int_equal(s->nenv, 2);
	assert_int_equal(s->ready_fd, 4);
	assert_null(s->parent);
	d = sup_spec_dup(s);
	sup_spec_free(s);
	assert_string_equal(d->env[1], "B=2");
	assert_string_equal(d->argv[1], "5");
	sup_spec_free(d);

	s = sup_spec_from_words("sub", SUP_SUPERVISOR, sup, 2, stderr);
	assert_non_null(s);
	assert_int_equal(s->strategy, SUP_ONE_FOR_ALL);
	sup_spec_free(s);

	assert_non_null(f = open_memstream(&errs, &n));
	assert_null(sup_spec_from_words("dyn", SUP_WORKER, bad, 7, f));
	assert_null(sup_spec_from_words("bad name", SUP_WORKER, ok, 1, f));
	assert_null(sup_spec_from_words("noexec", SUP_WORKER, ok + 1, 1, f));
	fclose(f);
	assert_string_equal(errs,
	    "dyn: word 2: key \"parent\" is not allowed for a child added at run time\n"
	    "dyn: word 3: restart: \"always\" is not one of permanent, transient, temporary\n"
	    "dyn: word 4: \"oops\" is not key=value\n"
	    "dyn: word 5: key \"instances\" is not allowed for a child added at run time\n"
	    "dyn: word 6: unknown key \"bogus\" in [worker dyn]\n"
	    "dyn: word 7: duplicate key \"exec\" (first at word 1)\n"
	    "bad name: invalid name \"bad name\": use A-Z a-z 0-9 _ . - and do not start with "
	    "\".\" or \"-\"\n"
	    "noexec: worker \"noexec\" has no exec\n");
	free(errs);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(sup_name_valid("a"));
	assert_true(sup_name_valid("web.0_x-Y"));
	assert_true(sup_name_valid("0"));
	assert_true(sup_name_valid("a23456789012345678901234567890123456789012345678"));
	assert_false(sup_name_valid("a234567890123456789012345678901234567890123456789"));
	assert_false(sup_name_valid(""));
	assert_false(sup_name_valid(NULL));
	assert_false(sup_name_valid(".a"));
	assert_false(sup_name_valid("-a"));
	assert_false(sup_name_valid("a b"));
	assert_false(sup_name_valid("a/b"));
	assert_string_equal(sup_strategy_name(SUP_SIMPLE_ONE_FOR_ONE), "simple_one_for_one");
	assert_string_equal(sup_strategy_name(SUP_ONE_FOR_ONE), "one_for_one");
	assert_string_equal(sup_restart_name(SUP_TRANSIENT), "transient");
	assert_string_equal(sup_restart_name((enum sup_restart)9), "?");
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = NULL;
	size_t n = 0;

	if (f == NULL)
		return NULL;
	if (getdelim(&s, &n, '\0', f) < 0) {
		free(s);
		s = strdup("");
	}
	fclose(f);
	return s;
}

/* errs with every "DIR/" at the start of a line removed. */
static char *strip_dir(const char *errs, const char *dir)
{
	char *out = malloc(strlen(errs) + 1), *o = out;
	size_t dn = strlen(dir);

	assert_non_null(out);
	while (*errs) {
		if (strncmp(errs, dir, dn) == 0 && errs[dn] == '/')
			errs += dn + 1;
		while (*errs && *errs != '\n')
			*o++ = *errs++;
		if (*errs)
			*o++ = *errs++;
	}
	*o = '\0';
	return out;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* One broken config: exactly the expected errors, and the count returned. */
static void check_bad(const char *dir, const char *conf)
{
	char *path, *errs, *got, *want;
	struct sup_config cfg;
	size_t n;
	FILE *f;
	int r;

	assert_true(asprintf(&path, "%s/%s", dir, conf) > 0);
	assert_non_null(f = open_memstream(&errs, &n));
	r = sup_config_load(&cfg, path, f);
	fclose(f);
	free(path);
	assert_true(asprintf(&path, "%s/%.*s.err", dir, (int)(strlen(conf) - 5), conf) > 0);
	want = slurp(path);
	free(path);
	if (want == NULL)
		fail_msg("%s: no .err file", conf);
	got = strip_dir(errs, dir);
	if (strcmp(got, want) != 0)
		fail_msg("%s:\n--- want\n%s--- got\n%s", conf, want, got);
	assert_int_equal(r, count_lines(want));
	assert_null(cfg.root);
	free(errs);
	free(got);
	free(want);
}

static void test_bad_corpus(void **state)
{
	char dir[PATH_MAX];
	struct dirent *e;
	int n = 0;
	DIR *d;

	(void)state;
	setenv("PATH", "/usr/local/bin:/usr/bin:/bin", 1);
	unsetenv("LC_TEST_SURELY_UNSET");
	unsetenv("LC_TEST_ALSO_UNSET");
	snprintf(dir, sizeof dir, "%s/tests/config/bad", srcdir());
	assert_non_null(d = opendir(dir));
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len > 5 && strcmp(e->d_name + len - 5, ".conf") == 0) {
			check_bad(dir, e->d_name);
			n++;
		}
	}
	closedir(d);
	assert_true(n >= 35);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_supervisor_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_ready_and_comments),
		cmocka_unit_test(test_env_expansion),
		cmocka_unit_test(test_env_unrepresentable),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_instances),
		cmocka_unit_test(test_path_lookup),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_errors_counted_without_stream),
		cmocka_unit_test(test_nul_and_long_lines),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_round_trip_samples),
		cmocka_unit_test(test_write_refuses),
		cmocka_unit_test(test_from_words),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_bad_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
