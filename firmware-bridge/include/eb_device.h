/* Device main loop on top of the port interface: hello at start-up and every 5 s, a data frame every sample period,
 * a heartbeat every second without data. Call eb_device_poll() as often as possible from loop(). */
#ifndef EB_DEVICE_H
#define EB_DEVICE_H

#include "edgebridge.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *device_id;
    uint32_t sample_period_ms;
    uint8_t channel_count;
    const char *const *names;
    const char *const *units;
} eb_device_config;

typedef struct {
    eb_device_config cfg;
    eb_encoder enc;
    uint32_t last_sample, last_hello, last_any;
    int started;
    float values[EB_MAX_CHANNELS];
    uint8_t wire[EB_MAX_WIRE];
} eb_device;

void eb_device_init(eb_device *dev, const eb_device_config *cfg);
/* Returns the number of frames sent during this call. */
int eb_device_poll(eb_device *dev);

#ifdef __cplusplus
}
#endif
#endif
