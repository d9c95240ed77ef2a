/* EdgeRnn firmware-bridge core: see PROTOCOL.md. C99, no malloc, no hardware headers. */
#include "edgebridge.h"

#include <string.h>

uint16_t eb_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

size_t eb_cobs_encode(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t code_at = 0, o = 1;
    uint8_t code = 1;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = in[i];
            if (++code == 0xFF) {
                /* a full block of 254 non-zero bytes: a new block starts only if more input follows */
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    return o;
}

int eb_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    size_t i = 0, o = 0;
    while (i < len) {
        uint8_t code = in[i++];
        if (code == 0) return -1;
        size_t n = (size_t)code - 1u;
        if (i + n > len) return -1;
        if (o + n > cap) return -1;
        for (size_t k = 0; k < n; k++) {
            if (in[i + k] == 0) return -1;
            out[o++] = in[i + k];
        }
        i += n;
        if (code != 0xFF && i < len) {
            if (o >= cap) return -1;
            out[o++] = 0;
        }
    }
    return (int)o;
}

void eb_encoder_init(eb_encoder *enc) { enc->seq = 0; }

static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
/* unsigned casts before shifting: on 16-bit-int targets (AVR) p[1] << 8 would overflow a signed int */
static uint16_t get_u16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] | ((unsigned)p[1] << 8)); }
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void put_f32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(p, u);
}
float eb_get_f32(const uint8_t *p)
{
    uint32_t u = get_u32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

size_t eb_frame_payload(const uint8_t *payload, size_t len, uint8_t *out, size_t cap)
{
    if (len > EB_MAX_PAYLOAD || cap < EB_COBS_MAX(len) + 1u) return 0;
    size_t n = eb_cobs_encode(payload, len, out);
    out[n++] = 0;
    return n;
}

/* Writes header at p, returns 10; the body follows; finish() appends the CRC and frames it. */
static void header(eb_encoder *enc, uint8_t *p, uint8_t type, uint32_t time_ms, uint16_t count)
{
    p[0] = EB_VERSION;
    p[1] = type;
    put_u16(p + 2, enc->seq++);
    put_u32(p + 4, time_ms);
    put_u16(p + 8, count);
}

static size_t finish(uint8_t *payload, size_t len, uint8_t *out, size_t cap)
{
    put_u16(payload + len, eb_crc16(payload, len));
    return eb_frame_payload(payload, len + EB_CRC_SIZE, out, cap);
}

size_t eb_encode_data_f32(eb_encoder *enc, uint32_t time_ms, const float *values, uint8_t count, uint8_t *out, size_t cap)
{
    uint8_t p[EB_HEADER_SIZE + 4u * EB_MAX_CHANNELS + EB_CRC_SIZE];
    if (count > EB_MAX_CHANNELS) return 0;
    header(enc, p, EB_DATA_F32, time_ms, count);
    for (uint8_t i = 0; i < count; i++) put_f32(p + EB_HEADER_SIZE + 4u * i, values[i]);
    return finish(p, EB_HEADER_SIZE + 4u * count, out, cap);
}

size_t eb_encode_data_i16(eb_encoder *enc, uint32_t time_ms, float scale, const int16_t *raw, uint8_t count, uint8_t *out, size_t cap)
{
    uint8_t p[EB_HEADER_SIZE + 4u + 2u * EB_MAX_CHANNELS + EB_CRC_SIZE];
    if (count > EB_MAX_CHANNELS) return 0;
    header(enc, p, EB_DATA_I16, time_ms, count);
    put_f32(p + EB_HEADER_SIZE, scale);
    for (uint8_t i = 0; i < count; i++) put_u16(p + EB_HEADER_SIZE + 4u + 2u * i, (uint16_t)raw[i]);
    return finish(p, EB_HEADER_SIZE + 4u + 2u * count, out, cap);
}

size_t eb_encode_heartbeat(eb_encoder *enc, uint32_t time_ms, uint8_t *out, size_t cap)
{
    uint8_t p[EB_HEADER_SIZE + EB_CRC_SIZE];
    header(enc, p, EB_HEARTBEAT, time_ms, 0);
    return finish(p, EB_HEADER_SIZE, out, cap);
}

static int put_str(uint8_t *p, size_t *at, size_t limit, const char *s)
{
    size_t n = strlen(s);
    if (n > EB_MAX_STRING || *at + 1u + n > limit) return -1;
    p[(*at)++] = (uint8_t)n;
    memcpy(p + *at, s, n);
    *at += n;
    return 0;
}

size_t eb_encode_hello(eb_encoder *enc, uint32_t time_ms, const char *device_id, uint32_t sample_period_us,
                       uint8_t channel_count, const char *const *names, const char *const *units, uint8_t *out, size_t cap)
{
    uint8_t p[EB_MAX_PAYLOAD];
    const size_t limit = EB_MAX_PAYLOAD - EB_CRC_SIZE;
    size_t at = EB_HEADER_SIZE;
    if (channel_count > EB_MAX_CHANNELS) return 0;
    if (put_str(p, &at, limit, device_id)) return 0;
    if (at + 5u > limit) return 0;
    put_u32(p + at, sample_period_us);
    at += 4;
    p[at++] = channel_count;
    for (uint8_t i = 0; i < channel_count; i++)
        if (put_str(p, &at, limit, names[i]) || put_str(p, &at, limit, units[i])) return 0;
    header(enc, p, EB_HELLO, time_ms, (uint16_t)(at - EB_HEADER_SIZE));
    return finish(p, at, out, cap);
}

int eb_parse_payload(const uint8_t *payload, size_t len, eb_frame *f)
{
    if (len < EB_HEADER_SIZE + EB_CRC_SIZE) return -1;
    if (payload[0] != EB_VERSION) return -1;
    if (get_u16(payload + len - 2) != eb_crc16(payload, len - 2)) return -2;
    f->version = payload[0];
    f->type = payload[1];
    f->seq = get_u16(payload + 2);
    f->time_ms = get_u32(payload + 4);
    f->count = get_u16(payload + 8);
    f->body = payload + EB_HEADER_SIZE;
    f->body_len = (uint16_t)(len - EB_HEADER_SIZE - EB_CRC_SIZE);
    size_t expect;
    switch (f->type) {
    case EB_HELLO: expect = f->count; break;
    case EB_DATA_F32: expect = 4u * f->count; break;
    case EB_DATA_I16: expect = 4u + 2u * f->count; break;
    case EB_HEARTBEAT: expect = 0; break;
    default: return -1;
    }
    return expect == f->body_len ? 0 : -1;
}

void eb_decoder_init(eb_decoder *dec) { memset(dec, 0, sizeof *dec); }

int eb_decoder_push(eb_decoder *dec, uint8_t byte, eb_frame *frame)
{
    if (byte != 0) {
        if (dec->len == sizeof dec->wire) {
            if (!dec->overflow) dec->oversized++;
            dec->overflow = 1;
        } else if (!dec->overflow) {
            dec->wire[dec->len++] = byte;
        }
        return 0;
    }
    /* 0x00: end of a frame (or of the garbage before one) */
    size_t n = dec->len;
    int was_overflow = dec->overflow;
    dec->len = 0;
    dec->overflow = 0;
    if (was_overflow || n == 0) return 0;
    int m = eb_cobs_decode(dec->wire, n, dec->payload, sizeof dec->payload);
    if (m < 0) { dec->malformed++; return 0; }
    int r = eb_parse_payload(dec->payload, (size_t)m, frame);
    if (r == -2) { dec->crc_errors++; return 0; }
    if (r != 0) { dec->malformed++; return 0; }
    dec->frames++;
    return 1;
}
