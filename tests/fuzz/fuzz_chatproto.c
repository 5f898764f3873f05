/* libFuzzer: the chat workers' decoder. The first two bytes pick the type; whatever decodes
 * must encode back to the very same bytes (the format has one encoding per message). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../chatd/chatproto.h"

static struct chat_msg m;
static unsigned char out[1 << 20];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint16_t type = (uint16_t)(CHAT_REGISTER + (data[0] << 8 | data[1]) %
	    (CHAT_TYPE_END - CHAT_REGISTER + 1));
	if (chat_decode(type, data + 2, size - 2, &m) == 0) {
		ssize_t n = chat_encode(&m, out, sizeof out);
		if (n != (ssize_t)(size - 2) || memcmp(out, data + 2, size - 2) != 0)
			abort();
	}
	return 0;
}
