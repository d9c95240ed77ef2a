/* EdgeRnn firmware-bridge: portable C99 frame encoder/decoder (see PROTOCOL.md).
 * No malloc, no hardware headers: the caller owns every buffer. */
#ifndef EDGEBRIDGE_H
#define EDGEBRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EB_VERSION 1u
#define EB_HEADER_SIZE 10u
#define EB_CRC_SIZE 2u
/* The protocol allows payloads up to 1024 bytes and 64 channels (the host always accepts those). A small board may build
 * with less RAM, e.g. -DEB_MAX_PAYLOAD=128 -DEB_MAX_CHANNELS=8 (an ATmega328 has 2 KB). */
#ifndef EB_MAX_PAYLOAD
#define EB_MAX_PAYLOAD 1024u
#endif
/* COBS worst case: one code byte per 254 data bytes (at least one), plus the 0x00 delimiter */
#define EB_COBS_MAX(n) ((n) + ((n) / 254u) + 1u)
#define EB_MAX_WIRE (EB_COBS_MAX(EB_MAX_PAYLOAD) + 1u)
#ifndef EB_MAX_CHANNELS
#define EB_MAX_CHANNELS 64u
#endif
#define EB_MAX_STRING 32u

enum eb_frame_type {
    EB_HELLO = 1,
    EB_DATA_F32 = 2,
    EB_DATA_I16 = 3,
    EB_HEARTBEAT = 4
};

/* ---- primitives ---- */

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0. */
uint16_t eb_crc16(const uint8_t *data, size_t len);

/* Encodes len bytes into out (room for EB_COBS_MAX(len)); returns the encoded length, no 0x00 delimiter appended. */
size_t eb_cobs_encode(const uint8_t *in, size_t len, uint8_t *out);

/* Decodes an encoded block (without the delimiter). Returns the decoded length, or -1 if malformed
 * (contains 0x00, a code byte runs past the end) or the result exceeds cap. */
int eb_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/* ---- encoder (device side) ---- */

typedef struct {
    uint16_t seq; /* sequence number of the next frame */
} eb_encoder;

void eb_encoder_init(eb_encoder *enc);

/* Each returns the wire length written to out (COBS + 0x00), or 0 if the arguments are invalid or out is too small. */
size_t eb_encode_data_f32(eb_encoder *enc, uint32_t time_ms, const float *values, uint8_t count, uint8_t *out, size_t cap);
size_t eb_encode_data_i16(eb_encoder *enc, uint32_t time_ms, float scale, const int16_t *raw, uint8_t count, uint8_t *out, size_t cap);
size_t eb_encode_heartbeat(eb_encoder *enc, uint32_t time_ms, uint8_t *out, size_t cap);
size_t eb_encode_hello(eb_encoder *enc, uint32_t time_ms, const char *device_id, uint32_t sample_period_us,
                       uint8_t channel_count, const char *const *names, const char *const *units, uint8_t *out, size_t cap);

/* Frames any payload (header + body + CRC already in place): COBS + 0x00. Returns the wire length or 0. */
size_t eb_frame_payload(const uint8_t *payload, size_t len, uint8_t *out, size_t cap);

/* ---- decoder (host side, or a device receiving frames) ---- */

typedef struct {
    uint8_t version;
    uint8_t type;
    uint16_t seq;
    uint32_t time_ms;
    uint16_t count;
    const uint8_t *body; /* points into the decoder's buffer; valid until the next eb_decoder_push */
    uint16_t body_len;
} eb_frame;

typedef struct {
    uint8_t wire[EB_MAX_WIRE];
    uint8_t payload[EB_MAX_PAYLOAD];
    size_t len;
    int overflow; /* dropping bytes until the next 0x00 */
    uint32_t frames, crc_errors, malformed, oversized;
} eb_decoder;

void eb_decoder_init(eb_decoder *dec);

/* Feeds one byte. Returns 1 and fills *frame when a valid frame completed, else 0. */
int eb_decoder_push(eb_decoder *dec, uint8_t byte, eb_frame *frame);

/* Parses an unstuffed payload (header + body + CRC). Returns 0 on success, -1 malformed, -2 bad CRC. */
int eb_parse_payload(const uint8_t *payload, size_t len, eb_frame *frame);

/* Little-endian float32 from a body (for data frames). */
float eb_get_f32(const uint8_t *p);

#ifdef __cplusplus
}
#endif
#endif
