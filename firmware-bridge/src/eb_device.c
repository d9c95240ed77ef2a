#include "eb_device.h"
#include "eb_port.h"

#include <math.h>

#define EB_HELLO_EVERY_MS 5000u
#define EB_HEARTBEAT_EVERY_MS 1000u

void eb_device_init(eb_device *dev, const eb_device_config *cfg)
{
    dev->cfg = *cfg;
    if (dev->cfg.channel_count > EB_MAX_CHANNELS) dev->cfg.channel_count = EB_MAX_CHANNELS;
    eb_encoder_init(&dev->enc);
    dev->started = 0;
}

static void send(eb_device *dev, size_t n, uint32_t now)
{
    if (n) eb_port_uart_write(dev->wire, n);
    dev->last_any = now;
}

int eb_device_poll(eb_device *dev)
{
    /* unsigned differences stay correct across the millis() wrap */
    uint32_t now = eb_port_millis();
    int sent = 0;
    if (!dev->started) {
        static const uint8_t zero = 0; /* terminate whatever the host buffered before our first frame */
        eb_port_uart_write(&zero, 1);
    }
    if (!dev->started || now - dev->last_hello >= EB_HELLO_EVERY_MS) {
        send(dev, eb_encode_hello(&dev->enc, now, dev->cfg.device_id, dev->cfg.sample_period_ms * 1000u,
                                  dev->cfg.channel_count, dev->cfg.names, dev->cfg.units, dev->wire, sizeof dev->wire), now);
        dev->last_hello = now;
        if (!dev->started) dev->last_sample = now - dev->cfg.sample_period_ms;
        dev->started = 1;
        sent++;
    }
    if (now - dev->last_sample >= dev->cfg.sample_period_ms) {
        dev->last_sample += dev->cfg.sample_period_ms;
        /* fell far behind (blocked UART): skip ahead instead of bursting */
        if (now - dev->last_sample >= 4u * dev->cfg.sample_period_ms) dev->last_sample = now;
        uint8_t n = dev->cfg.channel_count;
        if (eb_port_read_sensor(dev->values, n) != 0)
            for (uint8_t i = 0; i < n; i++) dev->values[i] = NAN;
        send(dev, eb_encode_data_f32(&dev->enc, now, dev->values, n, dev->wire, sizeof dev->wire), now);
        sent++;
    } else if (now - dev->last_any >= EB_HEARTBEAT_EVERY_MS) {
        send(dev, eb_encode_heartbeat(&dev->enc, now, dev->wire, sizeof dev->wire), now);
        sent++;
    }
    return sent;
}
