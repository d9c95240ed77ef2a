/* Every golden vector (written by tools/gen_golden.py, read by the C# tests too) through the C core:
 * COBS encode/decode both ways, the frame parser, re-encoding the parsed frame, and the streaming decoder. */
#include "edgebridge.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d line %d: CHECK(%s) failed\n", __FILE__, __LINE__, lineno, #c); exit(1); } } while (0)

static int lineno;

static size_t unhex(const char *s, size_t n, uint8_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i + 1 < n + 1 && i < n; i += 2) {
        unsigned v;
        CHECK(sscanf(s + i, "%2x", &v) == 1);
        out[k++] = (uint8_t)v;
    }
    return k;
}

static uint8_t payload[4096], wire[4096], buf[4096], stream[1 << 20];
static char text[1 << 16];

static size_t reencode(const eb_frame *f, uint8_t *out, size_t cap)
{
    eb_encoder enc;
    enc.seq = f->seq;
    switch (f->type) {
    case EB_HEARTBEAT: return eb_encode_heartbeat(&enc, f->time_ms, out, cap);
    case EB_DATA_F32: {
        float v[EB_MAX_CHANNELS];
        for (int i = 0; i < f->count; i++) v[i] = eb_get_f32(f->body + 4 * i);
        return eb_encode_data_f32(&enc, f->time_ms, v, (uint8_t)f->count, out, cap);
    }
    case EB_DATA_I16: {
        int16_t r[EB_MAX_CHANNELS];
        for (int i = 0; i < f->count; i++) r[i] = (int16_t)(f->body[4 + 2 * i] | (f->body[5 + 2 * i] << 8));
        return eb_encode_data_i16(&enc, f->time_ms, eb_get_f32(f->body), r, (uint8_t)f->count, out, cap);
    }
    case EB_HELLO: {
        char strs[2 * EB_MAX_CHANNELS + 1][EB_MAX_STRING + 1];
        const char *names[EB_MAX_CHANNELS], *units[EB_MAX_CHANNELS];
        const uint8_t *b = f->body;
        size_t at = 0;
        uint8_t n = b[at++];
        memcpy(strs[0], b + at, n); strs[0][n] = 0; at += n;
        uint32_t period = (uint32_t)b[at] | ((uint32_t)b[at + 1] << 8) | ((uint32_t)b[at + 2] << 16) | ((uint32_t)b[at + 3] << 24);
        at += 4;
        uint8_t c = b[at++];
        for (int i = 0; i < c; i++) {
            for (int k = 0; k < 2; k++) {
                char *s = strs[1 + 2 * i + k];
                n = b[at++]; memcpy(s, b + at, n); s[n] = 0; at += n;
            }
            names[i] = strs[1 + 2 * i];
            units[i] = strs[2 + 2 * i];
        }
        return eb_encode_hello(&enc, f->time_ms, strs[0], period, c, names, units, out, cap);
    }
    }
    return 0;
}

int main(int argc, char **argv)
{
    assert(argc == 2);
    FILE *fp = fopen(argv[1], "r");
    if (!fp) { perror(argv[1]); return 1; }
    CHECK(eb_crc16((const uint8_t *)"123456789", 9) == 0x29B1);
    int cobs_lines = 0, frame_lines = 0, lengths_seen[530] = {0};
    size_t stream_len = 0;
    while (fgets(text, sizeof text, fp)) {
        lineno++;
        if (text[0] == '#' || text[0] == '\n') continue;
        char kind[8];
        int p0, p1, w0, w1, rest = 0;
        CHECK(sscanf(text, "%7s %n%*s%n %n%*s%n %n", kind, &p0, &p1, &w0, &w1, &rest) >= 1);
        size_t plen = unhex(text + p0, (size_t)(p1 - p0), payload);
        size_t wlen = unhex(text + w0, (size_t)(w1 - w0), wire);
        if (plen < 530) lengths_seen[plen] = 1;

        /* encode */
        size_t n = eb_cobs_encode(payload, plen, buf);
        CHECK(n + 1 == wlen && memcmp(buf, wire, n) == 0 && wire[n] == 0);
        CHECK(n <= EB_COBS_MAX(plen));
        /* decode */
        int m = eb_cobs_decode(wire, wlen - 1, buf, sizeof buf);
        CHECK(m == (int)plen && memcmp(buf, payload, plen) == 0);

        if (strcmp(kind, "frame") == 0) {
            frame_lines++;
            unsigned type, seq, count;
            unsigned long time_ms;
            CHECK(sscanf(text + rest, "type=%u seq=%u time=%lu count=%u", &type, &seq, &time_ms, &count) == 4);
            eb_frame f;
            CHECK(eb_parse_payload(payload, plen, &f) == 0);
            CHECK(f.type == type && f.seq == seq && f.time_ms == time_ms && f.count == count);
            n = reencode(&f, buf, sizeof buf);
            CHECK(n == wlen && memcmp(buf, wire, wlen) == 0);
            /* any single bit flip in the payload is caught (CRC-16 detects all 1-bit errors) */
            payload[plen / 2] ^= 0x10;
            CHECK(eb_parse_payload(payload, plen, &f) != 0);
            memcpy(stream + stream_len, wire, wlen);
            stream_len += wlen;
            stream[stream_len++] = 0x55; /* garbage between frames, then the 0x00 that resyncs */
            stream[stream_len++] = 0x00;
        } else {
            cobs_lines++;
        }
    }
    fclose(fp);
    for (int i = 1; i < 530; i++) CHECK(lengths_seen[i]);
    CHECK(cobs_lines > 529 && frame_lines > 10);

    /* the streaming decoder finds every frame in the concatenation, with garbage in between */
    static eb_decoder dec;
    eb_decoder_init(&dec);
    int got = 0;
    eb_frame f;
    for (size_t i = 0; i < stream_len; i++) got += eb_decoder_push(&dec, stream[i], &f);
    CHECK(got == frame_lines);
    CHECK(dec.frames == (uint32_t)frame_lines);
    printf("golden: %d cobs vectors, %d frame vectors OK\n", cobs_lines, frame_lines);
    return 0;
}
