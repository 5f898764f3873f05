/* libFuzzer target for the config parser: the input is a whole config file. Errors go to
 * /dev/null. A valid config must also survive the round trip: written, read back without
 * error, and written again to the same text (nested supervisors depend on it). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../supervisor/sup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* cfg written to a heap string; aborts if the writer refuses what the reader accepted. */
static char *written(const struct sup_config *cfg)
{
	char *text = NULL;
	size_t n;
	FILE *f = open_memstream(&text, &n);

	if (f == NULL || sup_config_write(cfg, f) != 0)
		abort();
	fclose(f);
	return text;
}

static void round_trip(const struct sup_config *cfg, FILE *devnull)
{
	struct sup_config back;
	char *a = written(cfg), *b;

	if (sup_config_parse(&back, "fuzz.conf", a, devnull) != 0)
		abort();
	b = written(&back);
	if (strcmp(a, b) != 0 || back.nspecs != cfg->nspecs)
		abort();
	free(a);
	free(b);
	sup_config_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct sup_config cfg;
	char *text;

	if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (sup_config_parse(&cfg, "fuzz.conf", text, devnull) == 0) {
		round_trip(&cfg, devnull);
		sup_config_free(&cfg);
	}
	free(text);
	return 0;
}
