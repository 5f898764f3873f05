/* libFuzzer target for the event-line parser (lc_watch_parse): the input is one line as a
 * supervisor's PUB socket or ring would carry it. Properties: never reads outside the input,
 * and an accepted line re-rendered in the supervisor's format parses to the same event. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "letitcrash/watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so ASan catches any read past the end. */
	char *line = malloc(size ? size : 1);
	struct lc_watch_event ev, back;
	char out[LC_WATCH_LINEMAX * 2];

	if (!line)
		return 0;
	memcpy(line, data, size);
	if (lc_watch_parse(line, size, &ev) == 0) {
		int n = snprintf(out, sizeof out, "%s %s sup=%s seq=%llu time=%lld pid=%d n=%u%s%s",
		    ev.event, ev.child, ev.sup, (unsigned long long)ev.seq, (long long)ev.time,
		    (int)ev.pid, ev.n, ev.has_reason ? " reason=" : "", ev.has_reason ? ev.reason : "");
		if (n < 0 || (size_t)n >= sizeof out || lc_watch_parse(out, (size_t)n, &back) != 0 ||
		    memcmp(&ev, &back, sizeof ev) != 0)
			abort();
	}
	free(line);
	return 0;
}
