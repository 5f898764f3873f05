/* letitcrash supervisor: the config file (INI, read with libinih) and its writer.
 *
 * Reading. The text is fed to ini_parse_stream() one line at a time by our own reader, which
 * counts lines (Debian's libinih gives the handler no line number), handles section headers
 * itself (libinih truncates them to 49 bytes), rejects over-long lines and syntax errors, and
 * tells the handler whether a line continues the previous key. Every section is a `struct
 * sect` holding a template spec. Pass 1 (the handler) checks each value; pass 2 (finish)
 * resolves parents, names, instances and executables; build() then links the tree.
 * Errors are collected as (line, text), sorted by line and printed all at the end.
 *
 * Invariant kept by the reader (mirror of libinih's `prev_name`): cont == CONT_KEY exactly
 * when libinih would treat an indented line as a continuation and we want it; CONT_SKIP when
 * the previous key line was bad (its continuation lines are swallowed: we hand libinih "").
 *
 * Writing. Every value is written so that reading it back gives the same spec: `$` as `$$`,
 * exec words single-quoted when needed, long exec lines continued on indented lines. A value
 * libinih cannot carry (a line break, a `;` after a space, a line over 199 bytes) is refused
 * by the writer (EINVAL) and, with the same test, by the reader. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "sup.h"

#define LINE_MAX_BYTES  199             /* Debian's libinih reads lines into 200 bytes */
#define FILE_MAX_BYTES  (16L << 20)
#define MS_MAX          INT_MAX         /* shutdown, start_timeout, backoff */
#define INTENSITY_MAX   100000          /* sup_intensity keeps intensity+1 stamps */
#define INSTANCES_MAX   10000
#define SPECS_MAX       50000           /* sections after instances, whole file */
#define READY_FD_MIN    3
#define READY_FD_MAX    255
#define NAME_CHARS      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
#define WORD_SAFE       "_./:=,+@%^-$"  /* besides alnum: an exec word needs no quotes */
#define INSTANCE_ENV    "LETITCRASH_INSTANCE"
#define NKEYS           14

enum { K_ROOT = 1, K_SUP = 2, K_WORKER = 4 };          /* section kinds, as a mask */
enum { CONT_NONE, CONT_KEY, CONT_SKIP };
enum { ONE_VALUE, MORE_LINES, REPEATABLE };            /* struct key.multi */

struct strv { char **v; size_t n, cap; };               /* v is NULL-terminated when n > 0 */
struct buf { char *s; size_t n, cap; int oom; };
struct perr { int line; size_t seq; char *msg; };

struct sect {
	struct sup_spec *spec;          /* template: owned until build() moves it */
	char *name;                     /* as written (spec->name may be truncated) */
	unsigned kind;
	int line, idx, bad, moved, exec_bad, exec_line, in_cycle, state, dup;
	int keyline[NKEYS];             /* line of the first occurrence of each key, 0: unset */
	struct strv argv, env;          /* views of spec->argv, spec->env (spec owns) */
	int *envline;
	char *parent;                   /* the `parent` value */
	struct sect *psect;
	long instances;                 /* 0: key not given */
	int argv0_inst;                 /* argv[0] contains %i: resolved per instance */
	size_t nkids;
};

struct nameent { char name[SUP_NAME_MAX + 1]; struct sect *s; long inst; };

struct parser {
	const char *file;
	char *basedir;                  /* absolute: relative paths are resolved against it */
	FILE *errs;
	const char *text;
	size_t len, pos;
	int line, cont, is_cont, skipping, words, nerr, oom, headers;
	struct sect *cur;
	const struct key *lastkey;
	struct sect **sects;
	size_t nsects, scap;
	struct perr *ev;
	size_t nev, evcap;
	struct nameent *names;
	size_t nnames;
	char *rundir;
	char qbuf[4][96];
	unsigned qi;
};

#define UNIT(P) ((P)->words ? "word" : "line")      /* where the first one was */

struct key {
	const char *name;
	unsigned kinds;
	int multi;
	int (*set)(struct parser *, struct sect *, char *);
};

static const struct key *key_find(const char *name);
static size_t key_index(const char *name);

/* --- small tools ------------------------------------------------------------------------- */

static int grow(void *pp, size_t *cap, size_t need, size_t size)
{
	void **p = pp, *q;
	size_t nc = *cap ? *cap : 8;

	if (need <= *cap)
		return 0;
	while (nc < need)
		nc *= 2;
	if ((q = reallocarray(*p, nc, size)) == NULL)
		return -1;
	*p = q;
	*cap = nc;
	return 0;
}

/* Append s (taking ownership) to sv, keeping it NULL-terminated. On failure s is freed. */
static int strv_push(struct strv *sv, char *s)
{
	if (s == NULL || grow(&sv->v, &sv->cap, sv->n + 2, sizeof *sv->v) < 0) {
		free(s);
		return -1;
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
	return 0;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static char **strv_dup(char *const *v)
{
	struct strv sv = { 0 };

	for (size_t i = 0; v[i]; i++)
		if (strv_push(&sv, strdup(v[i])) < 0) {
			strv_free(sv.v);
			return NULL;
		}
	if (sv.v == NULL)
		sv.v = calloc(1, sizeof *sv.v);
	return sv.v;
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->oom || grow(&b->s, &b->cap, b->n + n + 1, 1) < 0) {
		b->oom = 1;
		return;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

static void buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

static void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* The string built (never NULL unless out of memory: "" when empty); the buffer is reset. */
static char *buf_take(struct buf *b)
{
	char *s;

	buf_add(b, "", 0);
	s = b->oom ? NULL : b->s;
	if (b->oom)
		free(b->s);
	memset(b, 0, sizeof *b);
	return s;
}

static int is_space(int c)
{
	return isspace((unsigned char)c);
}

static int env_name_valid(const char *s, size_t n)
{
	if (n == 0 || isdigit((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

/* --- errors ------------------------------------------------------------------------------ */

/* s quoted for a message: control characters as '?', cut after 80 bytes. Four live at once. */
static const char *Q(struct parser *P, const char *s)
{
	char *b = P->qbuf[P->qi++ % 4], *o = b;
	size_t i;

	*o++ = '"';
	for (i = 0; s[i] && i < 80; i++)
		*o++ = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (s[i]) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o++ = '"';
	*o = '\0';
	return b;
}

/* Record an error at `line` (0: no line, as for run-time children). Counted even when
 * memory runs out; the text is printed by flush_errors(). */
__attribute__((format(printf, 3, 4)))
static void err_at(struct parser *P, int line, const char *fmt, ...)
{
	va_list ap;
	char *msg, *full = NULL;
	int r;

	P->nerr++;
	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0) {
		P->oom = 1;
		return;
	}
	if (P->words && line > 0)
		r = asprintf(&full, "%s: word %d: %s", P->file, line, msg);
	else if (line > 0)
		r = asprintf(&full, "%s:%d: %s", P->file, line, msg);
	else
		r = asprintf(&full, "%s: %s", P->file, msg);
	free(msg);
	if (r < 0 || grow(&P->ev, &P->evcap, P->nev + 1, sizeof *P->ev) < 0) {
		if (r >= 0)
			free(full);
		P->oom = 1;
		return;
	}
	P->ev[P->nev] = (struct perr){ line, P->nev, full };
	P->nev++;
}

static int perr_cmp(const void *a, const void *b)
{
	const struct perr *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Print the errors sorted by line to P->errs (if any) and return their number. */
static int flush_errors(struct parser *P)
{
	if (P->oom)
		P->nerr++;
	if (P->nev)
		qsort(P->ev, P->nev, sizeof *P->ev, perr_cmp);
	for (size_t i = 0; i < P->nev; i++) {
		if (P->errs)
			fprintf(P->errs, "%s\n", P->ev[i].msg);
		free(P->ev[i].msg);
	}
	if (P->oom && P->errs)
		fprintf(P->errs, "%s: out of memory\n", P->file);
	if (P->errs)
		fflush(P->errs);
	free(P->ev);
	P->ev = NULL;
	P->nev = P->evcap = 0;
	return P->nerr;
}

static int oom(struct parser *P)
{
	P->oom = 1;
	return -1;
}

/* "[worker a]", "the root [supervisor main]" */
static const char *sect_desc(struct parser *P, const struct sect *S)
{
	char *b = P->qbuf[P->qi++ % 4];

	snprintf(b, sizeof P->qbuf[0], "%s[%s %s]", S->kind == K_ROOT ? "the root " : "",
	    S->kind == K_WORKER ? "worker" : "supervisor", S->spec->name);
	return b;
}

/* --- values: expansion, numbers, words, paths -------------------------------------------- */

/* Expand one "${...}" at p into b. Returns the position after it. */
static const char *expand_var(struct parser *P, const char *key, const char *p, struct buf *b,
    int *bad)
{
	const char *name = p + 2, *q = name, *end = strchr(p, '}');
	char var[LINE_MAX_BYTES + 1];
	const char *val;

	if (end == NULL) {
		err_at(P, P->line, "%s: %s has no closing \"}\"", key, Q(P, p));
		*bad = 1;
		return p + strlen(p);
	}
	while (isalnum((unsigned char)*q) || *q == '_')
		q++;
	if ((*q != '}' && (q[0] != ':' || q[1] != '-')) || !env_name_valid(name, q - name) ||
	    (size_t)(q - name) > LINE_MAX_BYTES) {
		err_at(P, P->line, "%s: invalid variable reference \"%.*s\" (use ${NAME} or "
		    "${NAME:-default})", key, (int)(end - p + 1 > 80 ? 80 : end - p + 1), p);
		*bad = 1;
		return end + 1;
	}
	memcpy(var, name, q - name);
	var[q - name] = '\0';
	val = getenv(var);
	if (*q == ':' && (val == NULL || *val == '\0'))
		buf_add(b, q + 2, end - (q + 2));
	else if (val != NULL)
		buf_adds(b, val);
	else {
		err_at(P, P->line, "%s: variable \"%s\" is not set (use ${%s:-default} for a default)",
		    key, var, var);
		*bad = 1;
	}
	return end + 1;
}

/* v with ${VAR}, ${VAR:-default} and $$ expanded (heap), or NULL after reporting. */
static char *expand(struct parser *P, const char *key, const char *v)
{
	struct buf b = { 0 };
	int bad = 0;
	char *s;

	while (*v) {
		if (v[0] == '$' && v[1] == '$') {
			buf_addc(&b, '$');
			v += 2;
		} else if (v[0] == '$' && v[1] == '{')
			v = expand_var(P, key, v, &b, &bad);
		else
			buf_addc(&b, *v++);
	}
	s = buf_take(&b);
	if (s == NULL)
		oom(P);
	if (bad) {
		free(s);
		return NULL;
	}
	return s;
}

/* Parse a plain decimal integer in [min, max]. Returns 0, or -1 after reporting. */
static int parse_num(struct parser *P, const char *key, const char *v, long min, long max,
    long *out)
{
	const char *d = v + (*v == '-');
	char *end;
	long n;

	if (*d == '\0' || strspn(d, "0123456789") != strlen(d)) {
		err_at(P, P->line, "%s: %s is not a number", key, Q(P, v));
		return -1;
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno == ERANGE || n < min || n > max) {
		err_at(P, P->line, "%s: %s is out of range (%ld to %ld)", key, Q(P, v), min, max);
		return -1;
	}
	*out = n;
	return 0;
}

/* Index of v in names[0..n-1], or -1 after reporting. */
static int parse_enum(struct parser *P, const char *key, const char *v, const char *const *names,
    int n)
{
	struct buf b = { 0 };
	char *list;

	for (int i = 0; i < n; i++)
		if (strcmp(v, names[i]) == 0)
			return i;
	for (int i = 0; i < n; i++) {
		buf_adds(&b, i ? ", " : "");
		buf_adds(&b, names[i]);
	}
	list = buf_take(&b);
	err_at(P, P->line, "%s: %s is not one of %s", key, Q(P, v), list ? list : "?");
	free(list);
	return -1;
}

/* Text after a single quote; appends to w. Returns the position after the closing quote. */
static const char *squote(const char *p, struct buf *w)
{
	const char *q = strchr(p, '\'');

	if (q == NULL)
		return NULL;
	buf_add(w, p, q - p);
	return q + 1;
}

/* Text after a double quote: \" \\ \$ are escapes, any other backslash is literal. */
static const char *dquote(const char *p, struct buf *w)
{
	for (; *p && *p != '"'; p++) {
		if (p[0] == '\\' && p[1] && strchr("\"\\$", p[1]))
			p++;
		buf_addc(w, *p);
	}
	return *p ? p + 1 : NULL;
}

/* Split v into words, shell-like ('...' literal, "..." with escapes, \ escapes outside
 * quotes) and append them to sv. Returns 0, or -1 after reporting. */
static int split_words(struct parser *P, const char *key, const char *v, struct strv *sv)
{
	struct buf w = { 0 };

	for (;;) {
		while (is_space(*v))
			v++;
		if (*v == '\0')
			return 0;
		while (v && *v && !is_space(*v)) {
			if (*v == '\'' || *v == '"') {
				const char *start = v;

				v = *v == '\'' ? squote(v + 1, &w) : dquote(v + 1, &w);
				if (v == NULL)
					err_at(P, P->line, "%s: unterminated %c quote in %s", key, *start,
					    Q(P, start));
			} else if (*v == '\\' && v[1] == '\0') {
				err_at(P, P->line, "%s: backslash at the end of the line", key);
				v = NULL;
			} else {
				v += *v == '\\';
				buf_addc(&w, *v++);
			}
		}
		if (v == NULL) {
			free(buf_take(&w));
			return -1;
		}
		if (strv_push(sv, buf_take(&w)) < 0)
			return oom(P);
	}
}

static size_t dollars(const char *s)
{
	size_t n = 0;

	while ((s = strchr(s, '$')) != NULL)
		n++, s++;
	return n;
}

/* Why v cannot be written back as "key = v" and read again identically, or NULL. */
static const char *value_problem(const char *key, const char *v)
{
	size_t n = strlen(v);

	if (strpbrk(v, "\n\r"))
		return "it contains a line break";
	if (n && (is_space(v[0]) || is_space(v[n - 1])))
		return "it starts or ends with a space";
	if (v[0] == ';')
		return "it starts with \";\", which would start a comment";
	for (size_t i = 1; i < n; i++)
		if (v[i] == ';' && is_space(v[i - 1]))
			return "a \";\" after a space would start a comment";
	if (strlen(key) + 3 + n + dollars(v) > LINE_MAX_BYTES)
		return "the line would be longer than 199 bytes";
	return NULL;
}

static int word_needs_quotes(const char *w)
{
	if (*w == '\0')
		return 1;
	for (; *w; w++)
		if (!isalnum((unsigned char)*w) && !strchr(WORD_SAFE, *w))
			return 1;
	return 0;
}

/* Append w as written in a config file: `$` doubled, single quotes when needed. */
static void put_word(struct buf *b, const char *w)
{
	int q = word_needs_quotes(w);

	if (q)
		buf_addc(b, '\'');
	for (; *w; w++) {
		if (*w == '\'')
			buf_adds(b, "'\\''");
		else if (*w == '$')
			buf_adds(b, "$$");
		else
			buf_addc(b, *w);
	}
	if (q)
		buf_addc(b, '\'');
}

/* Why exec word w cannot be written back, or NULL. */
static const char *word_problem(const char *w)
{
	struct buf b = { 0 };
	size_t n;

	if (strpbrk(w, "\n\r"))
		return "it contains a line break";
	for (size_t i = 1; w[0] && w[i]; i++)
		if (w[i] == ';' && is_space(w[i - 1]))
			return "a \";\" after a space would start a comment";
	put_word(&b, w);
	n = b.n;
	free(buf_take(&b));
	if (n + strlen("exec = ") > LINE_MAX_BYTES)
		return "the line would be longer than 199 bytes";
	return NULL;
}

static int check_value(struct parser *P, const char *key, const char *v)
{
	const char *why = value_problem(key, v);

	if (why == NULL)
		return 0;
	err_at(P, P->line, "%s: %s cannot be written back to a config file: %s", key, Q(P, v), why);
	return -1;
}

/* p made absolute against dir (heap), NULL if out of memory. */
static char *path_join(const char *dir, const char *p)
{
	char *s;

	if (p[0] == '/')
		return strdup(p);
	while (p[0] == '.' && p[1] == '/')
		for (p += 2; *p == '/'; p++)
			;
	if (strcmp(p, ".") == 0 || *p == '\0')
		return strdup(dir);
	if (asprintf(&s, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", p) < 0)
		return NULL;
	return s;
}

static char *cwd_join(const char *p)
{
	char *cwd, *s;

	if (p[0] == '/')
		return strdup(p);
	if ((cwd = getcwd(NULL, 0)) == NULL)
		return NULL;
	s = path_join(cwd, p);
	free(cwd);
	return s;
}

/* --- key setters: each returns 0, or -1 after reporting ---------------------------------- */

static int set_backoff(struct parser *P, struct sect *S, char *v)
{
	char *min = strtok(v, " \t"), *max = strtok(NULL, " \t"), *extra = strtok(NULL, " \t");
	long a, b;

	if (min == NULL || extra != NULL) {
		err_at(P, P->line, "backoff: expected MIN or MIN MAX (milliseconds)");
		return -1;
	}
	if (parse_num(P, "backoff", min, 0, MS_MAX, &a) < 0)
		return -1;
	b = a;
	if (max && parse_num(P, "backoff", max, 0, MS_MAX, &b) < 0)
		return -1;
	if (b < a) {
		err_at(P, P->line, "backoff: MAX %ld is less than MIN %ld", b, a);
		return -1;
	}
	if (a == 0 && b > 0) {
		err_at(P, P->line, "backoff: MIN must be at least 1 when MAX is given "
		    "(a delay of 0 never doubles)");
		return -1;
	}
	S->spec->backoff_min_ms = a;
	S->spec->backoff_max_ms = b;
	return 0;
}

static int set_dir(struct parser *P, struct sect *S, char *v)
{
	struct stat st;
	char *path;

	if ((path = path_join(P->basedir, v)) == NULL)
		return oom(P);
	if (check_value(P, "dir", path) < 0) {
		free(path);
		return -1;
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		if (stat(path, &st) == 0)
			err_at(P, P->line, "dir: %s: not a directory", Q(P, v));
		else
			err_at(P, P->line, "dir: %s: %s", Q(P, v), errno == ENOENT ?
			    "no such directory" : strerror(errno));
		free(path);
		return -1;
	}
	S->spec->dir = path;
	return 0;
}

static int set_env(struct parser *P, struct sect *S, char *v)
{
	char *eq = strchr(v, '=');
	size_t n = eq ? (size_t)(eq - v) : 0;
	int *lines;

	if (eq == NULL) {
		err_at(P, P->line, "env: %s is not KEY=VALUE", Q(P, v));
		return -1;
	}
	if (!env_name_valid(v, n)) {
		err_at(P, P->line, "env: \"%.*s\" is not a valid variable name", (int)(n > 80 ? 80 : n),
		    v);
		return -1;
	}
	for (size_t i = 0; i < S->env.n; i++)
		if (strncmp(S->env.v[i], v, n + 1) == 0) {
			err_at(P, P->line, "env: \"%.*s\" is already set at %s %d", (int)n, v, UNIT(P),
			    S->envline[i]);
			return -1;
		}
	if (check_value(P, "env", v) < 0)
		return -1;
	if ((lines = reallocarray(S->envline, S->env.n + 1, sizeof *lines)) == NULL)
		return oom(P);
	S->envline = lines;
	lines[S->env.n] = P->line;
	if (strv_push(&S->env, strdup(v)) < 0)
		return oom(P);
	S->spec->env = S->env.v;
	S->spec->nenv = S->env.n;
	return 0;
}

static int set_exec(struct parser *P, struct sect *S, char *v)
{
	size_t first = S->argv.n;
	const char *why;
	int r;

	if (!S->exec_line)
		S->exec_line = P->line;
	r = split_words(P, "exec", v, &S->argv);
	S->spec->argv = S->argv.v;
	if (r < 0) {
		S->exec_bad = 1;
		return -1;
	}
	if (S->argv.n == 0) {
		err_at(P, P->line, "exec: no command in %s", Q(P, v));
		S->exec_bad = 1;
		return -1;
	}
	for (size_t i = first; i < S->argv.n; i++)
		if ((why = word_problem(S->argv.v[i])) != NULL) {
			err_at(P, P->line, "exec: word %s cannot be written back to a config file: %s",
			    Q(P, S->argv.v[i]), why);
			S->exec_bad = 1;
			return -1;
		}
	return 0;
}

static int set_instances(struct parser *P, struct sect *S, char *v)
{
	return parse_num(P, "instances", v, 1, INSTANCES_MAX, &S->instances);
}

static int set_intensity(struct parser *P, struct sect *S, char *v)
{
	long n;

	if (parse_num(P, "intensity", v, 0, INTENSITY_MAX, &n) < 0)
		return -1;
	S->spec->intensity = (int)n;
	return 0;
}

static int set_parent(struct parser *P, struct sect *S, char *v)
{
	if ((S->parent = strdup(v)) == NULL)
		return oom(P);
	return 0;
}

static int set_period(struct parser *P, struct sect *S, char *v)
{
	long n;

	if (parse_num(P, "period", v, 1, INT_MAX, &n) < 0)
		return -1;
	S->spec->period = (int)n;
	return 0;
}

static int set_ready(struct parser *P, struct sect *S, char *v)
{
	long fd = READY_FD_MIN;

	if (strcmp(v, "exec") == 0 || strcmp(v, "notify") == 0) {
		S->spec->ready = v[0] == 'e' ? SUP_READY_EXEC : SUP_READY_NOTIFY;
		return 0;
	}
	if (strcmp(v, "fd") != 0 && strncmp(v, "fd:", 3) != 0) {
		err_at(P, P->line, "ready: %s is not one of exec, fd, fd:N, notify", Q(P, v));
		return -1;
	}
	if (v[2] == ':' && (strspn(v + 3, "0123456789") != strlen(v + 3) || !v[3])) {
		err_at(P, P->line, "ready: %s: N is not a number", Q(P, v));
		return -1;
	}
	if (v[2] == ':' && (strlen(v + 3) > 3 || (fd = atol(v + 3)) < READY_FD_MIN ||
	    fd > READY_FD_MAX)) {
		err_at(P, P->line, "ready: %s is out of range (fd:%d to fd:%d)", Q(P, v),
		    READY_FD_MIN, READY_FD_MAX);
		return -1;
	}
	S->spec->ready = SUP_READY_FD;
	S->spec->ready_fd = (int)fd;
	return 0;
}

static const char *const restart_names[] = { "permanent", "transient", "temporary" };
static const char *const strategy_names[] = {
	"one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"
};

static int set_restart(struct parser *P, struct sect *S, char *v)
{
	int i = parse_enum(P, "restart", v, restart_names, 3);

	if (i < 0)
		return -1;
	S->spec->restart = (enum sup_restart)i;
	return 0;
}

static int set_rundir(struct parser *P, struct sect *S, char *v)
{
	char *path = path_join(P->basedir, v);

	if (path == NULL)
		return oom(P);
	if (check_value(P, "rundir", path) < 0) {
		free(path);
		return -1;
	}
	free(P->rundir);
	P->rundir = path;
	return 0;
}

/* "infinity", or milliseconds in [min, MS_MAX]; `brutal` also allows "brutal_kill". */
static int parse_timeout(struct parser *P, const char *key, const char *v, int brutal, long min,
    long *ms)
{
	if (strcmp(v, "infinity") == 0) {
		*ms = SUP_INFINITY;
		return 0;
	}
	if (brutal && strcmp(v, "brutal_kill") == 0) {
		*ms = -2;
		return 0;
	}
	if (*v && strspn(v + (*v == '-'), "0123456789") == strlen(v + (*v == '-')) && v[*v == '-'])
		return parse_num(P, key, v, min, MS_MAX, ms);
	err_at(P, P->line, "%s: %s is not %sinfinity or a number of milliseconds", key, Q(P, v),
	    brutal ? "brutal_kill, " : "");
	return -1;
}

static int set_shutdown(struct parser *P, struct sect *S, char *v)
{
	long ms;

	if (parse_timeout(P, "shutdown", v, 1, 0, &ms) < 0)
		return -1;
	S->spec->shutdown = ms == -2 ? SUP_SHUTDOWN_BRUTAL : ms == SUP_INFINITY ?
	    SUP_SHUTDOWN_INFINITY : SUP_SHUTDOWN_TIMEOUT;
	S->spec->shutdown_ms = ms < 0 ? 0 : ms;
	return 0;
}

static int set_start_timeout(struct parser *P, struct sect *S, char *v)
{
	return parse_timeout(P, "start_timeout", v, 0, 1, &S->spec->start_timeout_ms);
}

static int set_strategy(struct parser *P, struct sect *S, char *v)
{
	int i = parse_enum(P, "strategy", v, strategy_names, 4);

	if (i < 0)
		return -1;
	S->spec->strategy = (enum sup_strategy)i;
	return 0;
}

/* Every key, sorted by name (bsearch). */
static const struct key keys[NKEYS] = {
	{ "backoff",       K_ROOT | K_SUP,   ONE_VALUE,  set_backoff },
	{ "dir",           K_SUP | K_WORKER, ONE_VALUE,  set_dir },
	{ "env",           K_SUP | K_WORKER, REPEATABLE, set_env },
	{ "exec",          K_WORKER,         MORE_LINES, set_exec },
	{ "instances",     K_WORKER,         ONE_VALUE,  set_instances },
	{ "intensity",     K_ROOT | K_SUP,   ONE_VALUE,  set_intensity },
	{ "parent",        K_SUP | K_WORKER, ONE_VALUE,  set_parent },
	{ "period",        K_ROOT | K_SUP,   ONE_VALUE,  set_period },
	{ "ready",         K_WORKER,         ONE_VALUE,  set_ready },
	{ "restart",       K_SUP | K_WORKER, ONE_VALUE,  set_restart },
	{ "rundir",        K_ROOT,           ONE_VALUE,  set_rundir },
	{ "shutdown",      K_SUP | K_WORKER, ONE_VALUE,  set_shutdown },
	{ "start_timeout", K_SUP | K_WORKER, ONE_VALUE,  set_start_timeout },
	{ "strategy",      K_ROOT | K_SUP,   ONE_VALUE,  set_strategy },
};

static int key_cmp(const void *name, const void *k)
{
	return strcmp(name, ((const struct key *)k)->name);
}

static const struct key *key_find(const char *name)
{
	return bsearch(name, keys, NKEYS, sizeof keys[0], key_cmp);
}

static size_t key_index(const char *name)
{
	return (size_t)(key_find(name) - keys);
}

/* --- sections ---------------------------------------------------------------------------- */

static void spec_defaults(struct sup_spec *s, enum sup_type type)
{
	s->type = type;
	s->restart = SUP_PERMANENT;
	s->strategy = SUP_ONE_FOR_ONE;
	s->intensity = 1;
	s->period = 5;
	if (type == SUP_WORKER) {
		s->shutdown = SUP_SHUTDOWN_TIMEOUT;
		s->shutdown_ms = 5000;
		s->start_timeout_ms = 5000;
		s->ready = SUP_READY_EXEC;
	} else {
		s->shutdown = SUP_SHUTDOWN_INFINITY;
		s->start_timeout_ms = SUP_INFINITY;
		s->ready = SUP_READY_FD;
		s->ready_fd = READY_FD_MIN;
	}
}

static struct sect *sect_new(struct parser *P, unsigned kind, const char *name, size_t n)
{
	struct sect *S;

	if (grow(&P->sects, &P->scap, P->nsects + 1, sizeof *P->sects) < 0 ||
	    (S = calloc(1, sizeof *S)) == NULL) {
		oom(P);
		return NULL;
	}
	if ((S->spec = calloc(1, sizeof *S->spec)) == NULL || (S->name = strndup(name, n)) == NULL) {
		free(S->spec);
		free(S);
		oom(P);
		return NULL;
	}
	S->kind = kind;
	S->line = S->spec->line = P->line;
	S->idx = (int)P->nsects;
	spec_defaults(S->spec, kind == K_WORKER ? SUP_WORKER : SUP_SUPERVISOR);
	snprintf(S->spec->name, sizeof S->spec->name, "%.*s", (int)n, name);
	P->sects[P->nsects++] = S;
	return S;
}

static void sect_free(struct sect *S)
{
	if (!S->moved)
		sup_spec_free(S->spec);
	free(S->name);
	free(S->envline);
	free(S->parent);
	free(S);
}

static int name_valid_n(const char *name, size_t n)
{
	return n >= 1 && n <= SUP_NAME_MAX && name[0] != '.' && name[0] != '-' &&
	    strspn(name, NAME_CHARS) >= n;
}

static void name_error(struct parser *P, const char *name, size_t n)
{
	if (n > SUP_NAME_MAX)
		err_at(P, P->line, "name \"%.*s...\" is longer than %d characters", 20, name,
		    SUP_NAME_MAX);
	else
		err_at(P, P->line, "invalid name \"%.*s\": use A-Z a-z 0-9 _ . - and do not start "
		    "with \".\" or \"-\"", (int)n, name);
}

/* Open a section of type t, named name (lengths tn, nn). */
static void section_start(struct parser *P, const char *t, size_t tn, const char *name,
    size_t nn)
{
	int sup = tn == 10 && strncmp(t, "supervisor", 10) == 0;
	unsigned kind = sup ? (P->nsects == 0 ? K_ROOT : K_SUP) : K_WORKER;
	struct sect *S;

	if (tn == 0) {
		err_at(P, P->line, "empty section header (expected [supervisor NAME] or "
		    "[worker NAME])");
		return;
	}
	if (!sup && !(tn == 6 && strncmp(t, "worker", 6) == 0)) {
		err_at(P, P->line, "unknown section type \"%.*s\" (expected [supervisor NAME] or "
		    "[worker NAME])", (int)(tn > 40 ? 40 : tn), t);
		return;
	}
	if (nn == 0) {
		err_at(P, P->line, "section [%.*s] needs a name", (int)tn, t);
		return;
	}
	if (P->nsects == 0 && !sup && P->headers == 1)
		err_at(P, P->line, "the first section must be [supervisor NAME], the root of the tree");
	if ((S = sect_new(P, kind, name, nn)) == NULL)
		return;
	if (!name_valid_n(name, nn)) {
		name_error(P, name, nn);
		S->bad = 1;
	}
	P->cur = S;
	P->skipping = 0;
}

/* A "[type name]" header; s starts at '['. Sets P->cur (NULL: skip the section's keys). */
static void section_line(struct parser *P, const char *s)
{
	const char *end = s + 1, *t, *name;
	size_t tn, nn;
	int was_space = 0;

	P->cur = NULL;
	P->skipping = 1;
	P->headers++;
	while (*end && *end != ']' && !(was_space && *end == ';'))
		was_space = is_space(*end++);
	if (*end != ']') {
		err_at(P, P->line, "section header %s has no closing \"]\"", Q(P, s));
		return;
	}
	for (t = end + 1; is_space(*t); t++)
		;
	if (*t && !(*t == ';' && is_space(t[-1])))
		err_at(P, P->line, "unexpected text %s after the section header", Q(P, t));
	for (t = s + 1; is_space(*t); t++)
		;
	for (tn = 0; t + tn < end && !is_space(t[tn]); tn++)
		;
	for (name = t + tn; name < end && is_space(*name); name++)
		;
	for (nn = end - name; nn && is_space(name[nn - 1]); nn--)
		;
	section_start(P, t, tn, name, nn);
}

/* --- pass 1: the reader and the handler -------------------------------------------------- */

/* Whether libinih finds '=' or ':' in s before an inline comment (find_chars_or_comment). */
static int has_key_sep(const char *s)
{
	int was_space = 0;

	for (; *s; s++) {
		if (*s == '=' || *s == ':')
			return 1;
		if (was_space && *s == ';')
			return 0;
		was_space = is_space(*s);
	}
	return 0;
}

/* Decide what libinih sees of line buf (modified in place) and update P->cont. */
static void classify(struct parser *P, char *buf)
{
	char *s = buf, *e;

	while (is_space(*s))
		s++;
	if (*s == '\0' || *s == ';' || *s == '#') {
		buf[0] = '\0';
	} else if (s > buf && P->cont != CONT_NONE) {
		P->is_cont = P->cont == CONT_KEY;
		if (!P->is_cont)
			buf[0] = '\0';
	} else if (*s == '[') {
		for (e = s + strlen(s); e > s && is_space(e[-1]); e--)
			;
		*e = '\0';
		section_line(P, s);
		strcpy(buf, "[]");      /* libinih forgets the previous key */
		P->cont = CONT_NONE;
	} else if (has_key_sep(s)) {
		P->cont = CONT_KEY;     /* the handler sets CONT_SKIP if the key is bad */
	} else {
		err_at(P, P->line, "syntax error: %s is not \"key = value\", \"[section]\" or a "
		    "comment", Q(P, s));
		buf[0] = '\0';
		P->cont = CONT_SKIP;
		if (P->cur)
			P->cur->exec_bad = 1;   /* the lost line may have been its exec */
	}
}

static void line_error(struct parser *P, const char *line, size_t n, const char *what)
{
	size_t i = 0;

	while (i < n && is_space(line[i]))
		i++;
	err_at(P, P->line, "%s", what);
	if (i == n || (line[i] != ';' && line[i] != '#')) {
		P->cont = CONT_SKIP;
		if (P->cur)
			P->cur->exec_bad = 1;   /* the lost line may have been its exec */
	}
}

/* ini_reader: the next line of P->text into buf (fgets-like, without the newline). */
static char *reader(char *buf, int num, void *arg)
{
	struct parser *P = arg;
	const char *line = P->text + P->pos, *nl;
	size_t n;

	if (P->pos >= P->len)
		return NULL;
	nl = memchr(line, '\n', P->len - P->pos);
	n = nl ? (size_t)(nl - line) : P->len - P->pos;
	P->pos += n + (nl != NULL);
	P->line++;
	P->is_cont = 0;
	buf[0] = '\0';
	if (P->line == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
		line += 3, n -= 3;
	if (memchr(line, '\0', n))
		line_error(P, line, n, "the line contains a NUL byte");
	else if (n > LINE_MAX_BYTES || n >= (size_t)num)
		line_error(P, line, n, "line too long (more than 199 bytes)");
	else {
		memcpy(buf, line, n);
		buf[n] = '\0';
		classify(P, buf);
	}
	return buf;
}

/* Expand and store one value of key k (a key line or a continuation line). */
static void set_value(struct parser *P, struct sect *S, const struct key *k, const char *value)
{
	char *v;

	if (*value == '\0') {
		err_at(P, P->line, "%s: missing value", k->name);
		return;
	}
	if ((v = expand(P, k->name, value)) == NULL)
		return;
	if (*v == '\0')
		err_at(P, P->line, "%s: empty value after expanding %s", k->name, Q(P, value));
	else if (strpbrk(v, "\n\r") && strcmp(k->name, "exec") && strcmp(k->name, "env"))
		err_at(P, P->line, "%s: the value contains a line break", k->name);
	else
		k->set(P, S, v);
	free(v);
}

/* Whether key k may appear in section S; reports if not. */
static int key_allowed(struct parser *P, struct sect *S, const struct key *k)
{
	if (P->words && (strcmp(k->name, "parent") == 0 || strcmp(k->name, "instances") == 0)) {
		err_at(P, P->line, "key \"%s\" is not allowed for a child added at run time", k->name);
		return 0;
	}
	if (k->kinds & S->kind)
		return 1;
	if (strcmp(k->name, "rundir") == 0)
		err_at(P, P->line, "key \"rundir\" is only allowed in the root supervisor");
	else
		err_at(P, P->line, "key \"%s\" is not allowed in %s", k->name, sect_desc(P, S));
	return 0;
}

/* A "key = value" line (or a run-time word). */
static void on_key(struct parser *P, const char *name, const char *value)
{
	struct sect *S = P->cur;
	const struct key *k;
	int *first;

	P->lastkey = NULL;
	P->cont = CONT_SKIP;
	if (S == NULL) {
		if (!P->skipping)
			err_at(P, P->line, "key %s before any section (the file starts with "
			    "[supervisor NAME])", Q(P, name));
		return;
	}
	if (*name == '\0') {
		err_at(P, P->line, "missing key name before \"=\"");
		return;
	}
	if ((k = key_find(name)) == NULL) {
		err_at(P, P->line, "unknown key %s in %s", Q(P, name), sect_desc(P, S));
		return;
	}
	if (!key_allowed(P, S, k))
		return;
	first = &S->keyline[k - keys];
	if (*first && k->multi != REPEATABLE) {
		err_at(P, P->line, "duplicate key \"%s\" (first at %s %d)", k->name, UNIT(P), *first);
		return;
	}
	if (!*first)
		*first = P->line;
	P->lastkey = k;
	P->cont = CONT_KEY;
	set_value(P, S, k, value);
}

/* An indented line continuing the previous key. */
static void on_continuation(struct parser *P, const char *value)
{
	const struct key *k = P->lastkey;

	if (k == NULL || P->cur == NULL)
		return;
	if (k->multi == ONE_VALUE) {
		err_at(P, P->line, "duplicate key \"%s\" (first at line %d; an indented line "
		    "continues the previous key)", k->name, P->cur->keyline[k - keys]);
		P->cont = CONT_SKIP;
		return;
	}
	set_value(P, P->cur, k, value);
}

/* ini_handler. Always "succeeds": errors are ours to report. */
static int handler(void *arg, const char *section, const char *name, const char *value)
{
	struct parser *P = arg;

	(void)section;
	if (name == NULL || value == NULL)
		return 1;
	if (P->is_cont)
		on_continuation(P, value);
	else
		on_key(P, name, value);
	return 1;
}

/* --- pass 2: names, parents, cycles, executables ----------------------------------------- */

static int nameent_cmp(const void *a, const void *b)
{
	const struct nameent *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	if (x->s->idx != y->s->idx)
		return x->s->idx < y->s->idx ? -1 : 1;
	return x->inst < y->inst ? -1 : x->inst > y->inst;
}

/* dst = "base.inst" (the caller checked the length). */
static void instance_name(char dst[SUP_NAME_MAX + 1], const char *base, long inst)
{
	char tmp[SUP_NAME_MAX + 32];

	snprintf(tmp, sizeof tmp, "%s.%ld", base, inst);
	snprintf(dst, SUP_NAME_MAX + 1, "%.*s", SUP_NAME_MAX, tmp);
}

static int add_name(struct parser *P, size_t *cap, struct sect *S, long inst)
{
	struct nameent *e;

	if (grow(&P->names, cap, P->nnames + 1, sizeof *P->names) < 0)
		return oom(P);
	e = &P->names[P->nnames++];
	e->s = S;
	e->inst = inst;
	if (inst < 0)
		snprintf(e->name, sizeof e->name, "%s", S->spec->name);
	else
		instance_name(e->name, S->spec->name, inst);
	return 0;
}

/* Every section name and instance name, sorted (P->names); checks length and the total. */
static void collect_names(struct parser *P)
{
	size_t cap = 0, total = 0, ik = key_index("instances");
	char last[24];

	for (size_t i = 0; i < P->nsects; i++) {
		struct sect *S = P->sects[i];
		long n = S->instances;

		if (S->bad)
			continue;
		snprintf(last, sizeof last, ".%ld", n - 1);
		if (n && strlen(S->spec->name) + strlen(last) > SUP_NAME_MAX) {
			err_at(P, S->keyline[ik], "instances: the names \"%s.0\" to \"%s%s\" would be longer "
			    "than %d characters", S->spec->name, S->spec->name, last, SUP_NAME_MAX);
			n = 0;
		}
		total += n ? (size_t)n : 1;
		if (total > SPECS_MAX) {
			err_at(P, n ? S->keyline[ik] : S->line, "too many children: the file defines more "
			    "than %d", SPECS_MAX);
			break;
		}
		if (add_name(P, &cap, S, -1) < 0)
			return;
		for (long k = 0; k < n; k++)
			if (add_name(P, &cap, S, k) < 0)
				return;
	}
	if (P->nnames)
		qsort(P->names, P->nnames, sizeof *P->names, nameent_cmp);
}

/* Names are unique across the file, instance names included: report each later section once. */
static void check_unique(struct parser *P)
{
	size_t first = 0;

	for (size_t i = 1; i < P->nnames; i++) {
		struct sect *S = P->names[i].s, *F;

		if (strcmp(P->names[i].name, P->names[first].name) != 0) {
			first = i;
			continue;
		}
		F = P->names[first].s;
		if (S == F || S->dup)
			continue;
		S->dup = 1;
		err_at(P, S->line, "duplicate name \"%s\" (first defined at line %d)",
		    P->names[i].name, F->line);
	}
}

static struct sect *find_sect(struct parser *P, const char *name)
{
	size_t lo = 0, hi = P->nnames, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(P->names[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < P->nnames && strcmp(P->names[lo].name, name) == 0; lo++)
		if (P->names[lo].inst < 0)
			return P->names[lo].s;
	return NULL;
}

static void resolve_parents(struct parser *P)
{
	struct sect *root = P->nsects && P->sects[0]->kind == K_ROOT ? P->sects[0] : NULL;
	size_t pk = key_index("parent");

	for (size_t i = 0; i < P->nsects; i++) {
		struct sect *S = P->sects[i], *T;

		if (S->kind == K_ROOT)
			continue;
		if (S->parent == NULL) {
			S->psect = root;
			continue;
		}
		if ((T = find_sect(P, S->parent)) == NULL)
			err_at(P, S->keyline[pk], "parent %s does not exist", Q(P, S->parent));
		else if (T->kind == K_WORKER)
			err_at(P, S->keyline[pk], "parent %s is a worker, not a supervisor",
			    Q(P, S->parent));
		else
			S->psect = T;
	}
}

/* Report the cycle through T once, from its first section in file order. */
static void report_cycle(struct parser *P, struct sect *T)
{
	struct sect *M = T, *U = T;
	struct buf b = { 0 };
	char *msg;

	do {
		U->in_cycle = 1;
		if (U->idx < M->idx)
			M = U;
		U = U->psect;
	} while (U != T);
	U = M;
	do {
		buf_adds(&b, U->spec->name);
		buf_adds(&b, " -> ");
		U = U->psect;
	} while (U != M);
	buf_adds(&b, M->spec->name);
	if ((msg = buf_take(&b)) == NULL) {
		oom(P);
		return;
	}
	err_at(P, M->keyline[key_index("parent")], "parent cycle: %s", msg);
	free(msg);
}

/* Find parent cycles (walks marked 1 while on the current path, 2 when done), then cut them. */
static void find_cycles(struct parser *P)
{
	struct sect *S, *T;

	for (size_t i = 0; i < P->nsects; i++) {
		S = P->sects[i];
		for (T = S; T && T->state == 0; T = T->psect)
			T->state = 1;
		if (T && T->state == 1)
			report_cycle(P, T);
		for (T = S; T && T->state == 1; T = T->psect)
			T->state = 2;
	}
	for (size_t i = 0; i < P->nsects; i++)
		if (P->sects[i]->in_cycle)
			P->sects[i]->psect = NULL;
}

static void count_children(struct parser *P)
{
	for (size_t i = 0; i < P->nsects; i++) {
		struct sect *S = P->sects[i];

		if (S->psect)
			S->psect->nkids += S->instances ? (size_t)S->instances : 1;
	}
	for (size_t i = 0; i < P->nsects; i++) {
		struct sect *S = P->sects[i];

		if (S->kind != K_WORKER && S->spec->strategy == SUP_SIMPLE_ONE_FOR_ONE &&
		    S->nkids != 1)
			err_at(P, S->line, "supervisor \"%s\" is simple_one_for_one: it needs exactly one "
			    "child (the template), not %zu", S->spec->name, S->nkids);
	}
}

static int is_exe(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && !S_ISDIR(st.st_mode) && access(path, X_OK) == 0;
}

/* w looked up in $PATH as execvp does (empty element: current directory), made absolute. */
static char *search_path(const char *w)
{
	const char *path = getenv("PATH"), *p, *e;
	char *dir, *cand, *abs;

	if (path == NULL)
		path = "/bin:/usr/bin";
	for (p = path;; p = e + 1) {
		e = strchrnul(p, ':');
		dir = p == e ? strdup(".") : strndup(p, e - p);
		cand = dir ? path_join(dir, w) : NULL;
		abs = cand ? cwd_join(cand) : NULL;
		free(dir);
		free(cand);
		if (abs && is_exe(abs))
			return abs;
		free(abs);
		if (*e == '\0')
			return NULL;
	}
}

/* argv[0] w resolved to an absolute executable (heap), or NULL after reporting at line. */
static char *resolve_exec(struct parser *P, int line, const char *w)
{
	struct stat st;
	const char *why;
	char *path;

	if (*w == '\0') {
		err_at(P, line, "exec: the program name is empty");
		return NULL;
	}
	if (strchr(w, '/') == NULL) {
		if ((path = search_path(w)) == NULL)
			err_at(P, line, "exec: no such executable %s in PATH", Q(P, w));
	} else if ((path = path_join(P->basedir, w)) == NULL) {
		oom(P);
	} else if (stat(path, &st) < 0 || S_ISDIR(st.st_mode) || access(path, X_OK) < 0) {
		err_at(P, line, "exec: %s: %s", Q(P, w), errno == ENOENT ? "no such file" :
		    S_ISDIR(st.st_mode) ? "is a directory" : errno == EACCES ? "not executable" :
		    strerror(errno));
		free(path);
		path = NULL;
	}
	if (path && (why = word_problem(path)) != NULL) {
		err_at(P, line, "exec: %s cannot be written back to a config file: %s", Q(P, path),
		    why);
		free(path);
		path = NULL;
	}
	return path;
}

/* A worker has an exec; its program is resolved now unless it depends on %i. */
static void check_worker(struct parser *P, struct sect *S)
{
	size_t ek = key_index("exec");
	char *path;

	if (!S->keyline[ek] && !S->exec_bad) {
		err_at(P, S->line, "worker \"%s\" has no exec", S->spec->name);
		return;
	}
	if (!S->keyline[ek] || S->exec_bad || S->argv.n == 0)
		return;
	for (size_t i = 0; S->instances && i < S->env.n; i++)
		if (strncmp(S->env.v[i], INSTANCE_ENV "=", sizeof INSTANCE_ENV) == 0)
			err_at(P, S->envline[i], "env: " INSTANCE_ENV " is set by instances");
	if (S->instances && strstr(S->argv.v[0], "%i")) {
		S->argv0_inst = 1;
		return;
	}
	if ((path = resolve_exec(P, S->exec_line, S->argv.v[0])) == NULL)
		return;
	free(S->argv.v[0]);
	S->argv.v[0] = path;
}

static void finish(struct parser *P)
{
	collect_names(P);
	check_unique(P);
	resolve_parents(P);
	find_cycles(P);
	count_children(P);
	for (size_t i = 0; i < P->nsects; i++)
		if (P->sects[i]->kind == K_WORKER)
			check_worker(P, P->sects[i]);
}

/* --- build ------------------------------------------------------------------------------- */

/* s with every "%i" replaced by num (heap). */
static char *replace_i(const char *s, const char *num)
{
	struct buf b = { 0 };
	const char *p;

	while ((p = strstr(s, "%i")) != NULL) {
		buf_add(&b, s, p - s);
		buf_adds(&b, num);
		s = p + 2;
	}
	buf_adds(&b, s);
	return buf_take(&b);
}

static int instance_words(struct parser *P, struct sect *S, struct sup_spec *c, const char *num)
{
	const char *why;
	char *r;

	for (size_t i = 0; c->argv[i]; i++) {
		if (strstr(c->argv[i], "%i") == NULL)
			continue;
		if ((r = replace_i(c->argv[i], num)) == NULL)
			return oom(P);
		free(c->argv[i]);
		c->argv[i] = r;
		if ((why = word_problem(r)) != NULL) {
			err_at(P, S->exec_line, "exec: word %s cannot be written back to a config file: "
			    "%s", Q(P, r), why);
			return -1;
		}
	}
	if (S->argv0_inst) {
		if ((r = resolve_exec(P, S->exec_line, c->argv[0])) == NULL)
			return -1;
		free(c->argv[0]);
		c->argv[0] = r;
	}
	return 0;
}

/* Instance k of S: name NAME.k, %i replaced, LETITCRASH_INSTANCE=k added. */
static struct sup_spec *make_instance(struct parser *P, struct sect *S, long k)
{
	struct sup_spec *c = sup_spec_dup(S->spec);
	char num[24], *e = NULL, **ne;

	if (c == NULL) {
		oom(P);
		return NULL;
	}
	snprintf(num, sizeof num, "%ld", k);
	instance_name(c->name, S->spec->name, k);
	if (instance_words(P, S, c, num) < 0)
		goto fail;
	if (asprintf(&e, INSTANCE_ENV "=%ld", k) < 0 ||
	    (ne = reallocarray(c->env, c->nenv + 2, sizeof *ne)) == NULL) {
		oom(P);
		goto fail;
	}
	c->env = ne;
	c->env[c->nenv++] = e;
	c->env[c->nenv] = NULL;
	return c;
fail:
	if (e != NULL)
		free(e);
	sup_spec_free(c);
	return NULL;
}

static void link_child(struct sup_config *cfg, struct sect *S, struct sup_spec *c)
{
	struct sup_spec *parent = S->psect ? S->psect->spec : NULL;

	cfg->specs[cfg->nspecs++] = c;
	if (parent) {
		c->parent = parent;
		parent->children[parent->nchildren++] = c;
	}
}

/* Move every spec into cfg, instances expanded, and link the tree. Returns 0 or -1. */
static int build(struct parser *P, struct sup_config *cfg)
{
	size_t total = 0;
	struct sup_spec *c;

	for (size_t i = 0; i < P->nsects; i++) {
		struct sect *S = P->sects[i];

		total += S->instances ? (size_t)S->instances : 1;
		if (S->nkids && (S->spec->children = calloc(S->nkids, sizeof *S->spec->children)) ==
		    NULL)
			return oom(P);
	}
	if ((cfg->specs = calloc(total, sizeof *cfg->specs)) == NULL)
		return oom(P);
	for (size_t i = 0; i < P->nsects; i++) {
		struct sect *S = P->sects[i];

		if (S->instances == 0) {
			S->moved = 1;
			link_child(cfg, S, S->spec);
		}
		for (long k = 0; k < S->instances; k++) {
			if ((c = make_instance(P, S, k)) == NULL)
				return -1;
			link_child(cfg, S, c);
		}
	}
	cfg->root = P->sects[0]->spec;
	cfg->rundir = P->rundir;
	P->rundir = NULL;
	return 0;
}

/* --- the public functions ---------------------------------------------------------------- */

/* The directory of `file`, absolute (heap); NULL if out of memory or no current directory. */
static char *base_dir(const char *file)
{
	const char *slash = file ? strrchr(file, '/') : NULL;
	char *d, *abs;

	if (slash == NULL)
		d = strdup(".");
	else
		d = strndup(file, slash == file ? 1 : (size_t)(slash - file));
	if (d == NULL)
		return NULL;
	if ((abs = realpath(d, NULL)) == NULL)
		abs = cwd_join(d);
	free(d);
	return abs;
}

static void parser_init(struct parser *P, const char *file, FILE *errs)
{
	memset(P, 0, sizeof *P);
	P->file = file;
	P->errs = errs;
	if ((P->basedir = base_dir(file)) == NULL)
		err_at(P, 0, "cannot find the directory of the file: %s", strerror(errno));
}

static void parser_fini(struct parser *P)
{
	for (size_t i = 0; i < P->nsects; i++)
		sect_free(P->sects[i]);
	free(P->sects);
	free(P->names);
	free(P->basedir);
	free(P->rundir);
	for (size_t i = 0; i < P->nev; i++)
		free(P->ev[i].msg);
	free(P->ev);
}

static int config_run(struct sup_config *cfg, const char *file, const char *text, size_t len,
    FILE *errs)
{
	struct parser P;
	int r, n;

	memset(cfg, 0, sizeof *cfg);
	parser_init(&P, file, errs);
	P.text = text;
	P.len = len;
	if (P.basedir != NULL) {
		r = ini_parse_stream(reader, &P, handler, &P);
		if (r > 0 && P.nerr == 0)
			err_at(&P, r, "syntax error");
		else if (r < 0)
			oom(&P);
		if (P.nsects == 0 && P.nerr == 0)
			err_at(&P, P.line ? P.line : 1, "no [supervisor NAME] section: the file must "
			    "define the root supervisor");
		finish(&P);
	}
	if (P.nerr == 0 && !P.oom && build(&P, cfg) == 0 && (cfg->file = strdup(file)) == NULL)
		oom(&P);        /* build() reports its own errors */
	n = flush_errors(&P);
	if (n)
		sup_config_free(cfg);
	parser_fini(&P);
	return n;
}

int sup_config_parse(struct sup_config *cfg, const char *name, const char *text, FILE *errs)
{
	return config_run(cfg, name, text, strlen(text), errs);
}

/* The whole file (heap, *len bytes plus a NUL), or NULL with errno. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *s = NULL;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		return NULL;
	do {
		if (n + 1 >= cap && (n > FILE_MAX_BYTES || grow(&s, &cap, n + 4096, 1) < 0)) {
			errno = n > FILE_MAX_BYTES ? EFBIG : ENOMEM;
			goto fail;
		}
		r = fread(s + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	if (ferror(f)) {
		errno = EIO;
		goto fail;
	}
	fclose(f);
	s[n] = '\0';
	*len = n;
	return s;
fail:
	r = errno;
	fclose(f);
	free(s);
	errno = (int)r;
	return NULL;
}

int sup_config_load(struct sup_config *cfg, const char *path, FILE *errs)
{
	size_t len;
	char *text = read_file(path, &len);
	int n, e;

	memset(cfg, 0, sizeof *cfg);
	if (text == NULL) {
		e = errno;
		if (errs)
			fprintf(errs, "%s: cannot read: %s\n", path, strerror(e));
		errno = e;
		return -1;
	}
	n = config_run(cfg, path, text, len, errs);
	free(text);
	return n;
}

void sup_config_free(struct sup_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->nspecs; i++)
		sup_spec_free(cfg->specs[i]);
	free(cfg->specs);
	free(cfg->file);
	free(cfg->rundir);
	memset(cfg, 0, sizeof *cfg);
}

struct sup_spec *sup_config_find(const struct sup_config *cfg, const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->nspecs; i++)
		if (strcmp(cfg->specs[i]->name, name) == 0)
			return cfg->specs[i];
	return NULL;
}

void sup_spec_free(struct sup_spec *spec)
{
	if (spec == NULL)
		return;
	strv_free(spec->argv);
	strv_free(spec->env);
	free(spec->dir);
	free(spec->children);
	free(spec);
}

struct sup_spec *sup_spec_dup(const struct sup_spec *spec)
{
	struct sup_spec *c = malloc(sizeof *c);

	if (c == NULL)
		return NULL;
	*c = *spec;
	c->parent = NULL;
	c->children = NULL;
	c->nchildren = 0;
	c->argv = c->env = NULL;
	c->dir = NULL;
	if ((spec->argv && (c->argv = strv_dup(spec->argv)) == NULL) ||
	    (spec->env && (c->env = strv_dup(spec->env)) == NULL) ||
	    (spec->dir && (c->dir = strdup(spec->dir)) == NULL)) {
		sup_spec_free(c);
		errno = ENOMEM;
		return NULL;
	}
	return c;
}

/* Apply one "key=value" word of a run-time child. */
static void apply_word(struct parser *P, const char *w)
{
	const char *eq = strchr(w, '=');
	char *key;

	if (eq == NULL) {
		err_at(P, P->line, "%s is not key=value", Q(P, w));
		return;
	}
	if ((key = strndup(w, eq - w)) == NULL) {
		oom(P);
		return;
	}
	P->is_cont = 0;
	on_key(P, key, eq + 1);
	free(key);
}

struct sup_spec *sup_spec_from_words(const char *name, enum sup_type type, char *const *words,
    size_t nwords, FILE *errs)
{
	struct parser P;
	struct sup_spec *spec = NULL;
	struct sect *S;

	parser_init(&P, name ? name : "(unnamed)", errs);
	P.words = 1;
	if (name == NULL || !name_valid_n(name, strlen(name)))
		name_error(&P, name ? name : "", name ? strlen(name) : 0);
	else if (P.basedir && (S = sect_new(&P, type == SUP_WORKER ? K_WORKER : K_SUP, name,
	    strlen(name))) != NULL) {
		P.cur = S;
		for (size_t i = 0; i < nwords; i++) {
			P.line = (int)i + 1;
			apply_word(&P, words[i]);
		}
		P.line = 0;
		if (S->kind == K_WORKER)
			check_worker(&P, S);
		if (P.nerr == 0 && !P.oom) {
			spec = S->spec;
			S->moved = 1;
		}
	}
	if (flush_errors(&P) && spec) {
		sup_spec_free(spec);
		spec = NULL;
	}
	parser_fini(&P);
	return spec;
}

const char *sup_strategy_name(enum sup_strategy s)
{
	return (unsigned)s < 4 ? strategy_names[s] : "?";
}

const char *sup_restart_name(enum sup_restart r)
{
	return (unsigned)r < 3 ? restart_names[r] : "?";
}

int sup_name_valid(const char *name)
{
	return name != NULL && name_valid_n(name, strlen(name));
}

/* --- writing ----------------------------------------------------------------------------- */

/* "key = value" with `$` doubled; -1 if the value cannot be read back identically. */
static int put_value(struct buf *b, const char *key, const char *v)
{
	if (value_problem(key, v) != NULL)
		return -1;
	buf_adds(b, key);
	buf_adds(b, " = ");
	for (; *v; v++)
		buf_adds(b, *v == '$' ? "$$" : (char[]){ *v, 0 });
	buf_addc(b, '\n');
	return 0;
}

/* "exec = w1 w2 ...", continued on indented lines to stay within LINE_MAX_BYTES. */
static int put_exec(struct buf *b, char *const *argv)
{
	struct buf w = { 0 };
	size_t col = 0;
	char *s;

	if (argv == NULL || argv[0] == NULL)
		return -1;
	for (size_t i = 0; argv[i]; i++) {
		if (word_problem(argv[i]) != NULL)
			return -1;
		put_word(&w, argv[i]);
		if ((s = buf_take(&w)) == NULL)
			return -1;
		if (i == 0)
			col = strlen("exec = ") + strlen(s), buf_adds(b, "exec = ");
		else if (col + 1 + strlen(s) > LINE_MAX_BYTES)
			col = 1 + strlen(s), buf_adds(b, "\n\t");
		else
			col += 1 + strlen(s), buf_addc(b, ' ');
		buf_adds(b, s);
		free(s);
	}
	buf_addc(b, '\n');
	return 0;
}

static void put_timeout(struct buf *b, const char *key, enum sup_shutdown how, long ms)
{
	char line[64];

	if (how == SUP_SHUTDOWN_BRUTAL)
		snprintf(line, sizeof line, "%s = brutal_kill\n", key);
	else if (how == SUP_SHUTDOWN_INFINITY || ms == SUP_INFINITY)
		snprintf(line, sizeof line, "%s = infinity\n", key);
	else
		snprintf(line, sizeof line, "%s = %ld\n", key, ms);
	buf_adds(b, line);
}

/* The keys every child has but parent: restart, shutdown, start_timeout, env, dir. */
static int put_child_keys(struct buf *b, const struct sup_spec *s)
{
	buf_adds(b, "restart = ");
	buf_adds(b, sup_restart_name(s->restart));
	buf_addc(b, '\n');
	put_timeout(b, "shutdown", s->shutdown, s->shutdown_ms);
	put_timeout(b, "start_timeout", SUP_SHUTDOWN_TIMEOUT, s->start_timeout_ms);
	for (size_t i = 0; i < s->nenv; i++)
		if (put_value(b, "env", s->env[i]) < 0)
			return -1;
	if (s->dir && put_value(b, "dir", s->dir) < 0)
		return -1;
	return 0;
}

static int put_sup_keys(struct buf *b, const struct sup_spec *s)
{
	char line[128];

	snprintf(line, sizeof line, "strategy = %s\nintensity = %d\nperiod = %d\n",
	    sup_strategy_name(s->strategy), s->intensity, s->period);
	buf_adds(b, line);
	if (s->backoff_min_ms == s->backoff_max_ms)
		snprintf(line, sizeof line, "backoff = %ld\n", s->backoff_min_ms);
	else
		snprintf(line, sizeof line, "backoff = %ld %ld\n", s->backoff_min_ms, s->backoff_max_ms);
	buf_adds(b, line);
	return 0;
}

static int put_spec(struct buf *b, const struct sup_spec *s, const struct sup_config *cfg)
{
	char line[32];

	if (!sup_name_valid(s->name))
		return -1;
	buf_adds(b, s->type == SUP_WORKER ? "[worker " : "[supervisor ");
	buf_adds(b, s->name);
	buf_adds(b, "]\n");
	if (s == cfg->root)
		return put_sup_keys(b, s) < 0 || (cfg->rundir && put_value(b, "rundir",
		    cfg->rundir) < 0) ? -1 : 0;
	if (s->parent == NULL || put_value(b, "parent", s->parent->name) < 0)
		return -1;
	if (s->type == SUP_SUPERVISOR)
		return put_child_keys(b, s) < 0 ? -1 : put_sup_keys(b, s);
	if (put_exec(b, s->argv) < 0 || put_child_keys(b, s) < 0)
		return -1;
	if (s->ready == SUP_READY_FD) {
		if (s->ready_fd < READY_FD_MIN || s->ready_fd > READY_FD_MAX)
			return -1;
		snprintf(line, sizeof line, "ready = fd:%d\n", s->ready_fd);
		buf_adds(b, line);
	} else
		buf_adds(b, s->ready == SUP_READY_NOTIFY ? "ready = notify\n" : "ready = exec\n");
	return 0;
}

int sup_config_write(const struct sup_config *cfg, FILE *out)
{
	struct buf b = { 0 };
	char *text;
	int bad = cfg->root == NULL || put_spec(&b, cfg->root, cfg) < 0;

	for (size_t i = 0; !bad && i < cfg->nspecs; i++)
		if (cfg->specs[i] != cfg->root) {
			buf_addc(&b, '\n');
			bad = put_spec(&b, cfg->specs[i], cfg) < 0;
		}
	text = buf_take(&b);
	if (bad || text == NULL) {
		free(text);
		errno = text == NULL && !bad ? ENOMEM : EINVAL;
		return -1;
	}
	bad = fputs(text, out) == EOF || fflush(out) == EOF;
	free(text);
	if (bad) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	return 0;
}
