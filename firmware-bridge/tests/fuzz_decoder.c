/* libFuzzer target: the decoder never reads or writes out of bounds, and whatever it accepts re-encodes
 * to a frame that decodes to the same payload. */
#include "edgebridge.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static eb_decoder dec;
    static uint8_t wire[EB_MAX_WIRE], back[EB_MAX_PAYLOAD];
    eb_decoder_init(&dec);
    eb_frame f;
    for (size_t i = 0; i < size; i++) {
        if (!eb_decoder_push(&dec, data[i], &f)) continue;
        size_t len = EB_HEADER_SIZE + f.body_len + EB_CRC_SIZE;
        size_t n = eb_frame_payload(dec.payload, len, wire, sizeof wire);
        if (n == 0) abort();
        int m = eb_cobs_decode(wire, n - 1, back, sizeof back);
        if (m != (int)len || memcmp(back, dec.payload, len) != 0) abort();
    }
    return 0;
}
