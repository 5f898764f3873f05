/* libFuzzer target for the wire decoder (ipc/wire.c): the input is one frame. Every message it
 * holds is decoded; each is re-encoded and must give back exactly the bytes it came from; the
 * count agrees with lc_wire_check, and decoding never reads past the frame (ASan). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "letitcrash/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a private copy: ASan then catches any read past the frame's end */
	uint8_t *frame = malloc(size ? size : 1), *out;
	struct lc_msg m;
	size_t off = 0, start;
	int n = 0, r;

	if (!frame)
		return 0;
	memcpy(frame, data, size);
	for (;;) {
		start = off;
		r = lc_wire_next(frame, size, &off, &m);
		if (r <= 0)
			break;
		n++;
		if (off <= start || off > size)
			abort();
		out = malloc(off - start);
		if (!out || lc_wire_encode(out, off - start, &m) != (ssize_t)(off - start) ||
		    memcmp(out, frame + start, off - start) != 0)
			abort();
		free(out);
	}
	if (r == 0 && off != size)
		abort();
	if (lc_wire_check(frame, size) != (r < 0 || size == 0 ? -1 : n))
		abort();
	free(frame);
	return 0;
}
