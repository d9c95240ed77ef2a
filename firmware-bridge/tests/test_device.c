/* The device loop over a fake port: hello first, data at the sample period, heartbeats when idle, millis() wrap,
 * all decoded by the C decoder with sequence numbers contiguous. */
#include "eb_device.h"
#include "eb_port.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); exit(1); } } while (0)

static uint32_t now_ms;
static int sensor_fails;
static eb_decoder dec;
static int hellos, datas, heartbeats, frames;
static uint16_t next_seq;
static uint32_t last_time;

void eb_port_uart_write(const uint8_t *data, size_t len)
{
    eb_frame f;
    for (size_t i = 0; i < len; i++) {
        if (!eb_decoder_push(&dec, data[i], &f)) continue;
        CHECK(f.seq == next_seq);
        next_seq++;
        CHECK(f.time_ms == now_ms);
        frames++;
        if (f.type == EB_HELLO) hellos++;
        if (f.type == EB_HEARTBEAT) heartbeats++;
        if (f.type == EB_DATA_F32) {
            datas++;
            CHECK(f.count == 2);
            float a = eb_get_f32(f.body), b = eb_get_f32(f.body + 4);
            if (sensor_fails) CHECK(isnan(a) && isnan(b));
            else CHECK(a == (float)(f.time_ms % 1000u) && b == -1.0f);
        }
        last_time = f.time_ms;
    }
}
uint32_t eb_port_millis(void) { return now_ms; }
int eb_port_read_sensor(float *v, uint8_t n)
{
    CHECK(n == 2);
    if (sensor_fails) return -1;
    v[0] = (float)(now_ms % 1000u);
    v[1] = -1.0f;
    return 0;
}

int main(void)
{
    static const char *const names[] = {"temp", "hum"}, *const units[] = {"degC", "%"};
    eb_device_config cfg = {"bench-1", 10, 2, names, units};
    static eb_device dev;
    eb_decoder_init(&dec);
    now_ms = 0xFFFFFFFFu - 3000u; /* start close to the wrap */
    eb_device_init(&dev, &cfg);
    for (int ms = 0; ms < 6000; ms++, now_ms++) eb_device_poll(&dev);
    CHECK(hellos == 2);                 /* at start and 5 s later, across the wrap */
    CHECK(datas >= 599 && datas <= 601); /* 10 ms period for 6 s */
    CHECK(heartbeats == 0);             /* data keeps the link alive */
    /* a sensor that stops answering still produces frames (NaN), and a slow period gets heartbeats */
    sensor_fails = 1;
    for (int ms = 0; ms < 100; ms++, now_ms++) eb_device_poll(&dev);
    sensor_fails = 0;
    cfg.sample_period_ms = 4000;
    eb_device_init(&dev, &cfg);
    int before = heartbeats;
    next_seq = 0;
    for (int ms = 0; ms < 3500; ms++, now_ms++) eb_device_poll(&dev);
    CHECK(heartbeats - before == 3);
    CHECK(dec.crc_errors == 0 && dec.malformed == 0 && dec.oversized == 0);
    printf("device: %d frames (%d hello, %d data, %d heartbeat) OK\n", frames, hellos, datas, heartbeats);
    return 0;
}
