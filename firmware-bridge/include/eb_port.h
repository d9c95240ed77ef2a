/* The thin port interface a board implements (see examples/arduino). Everything else is portable C99. */
#ifndef EB_PORT_H
#define EB_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes len bytes to the UART (may block until queued). */
void eb_port_uart_write(const uint8_t *data, size_t len);
/* Milliseconds since start-up; wraps at 2^32 like Arduino millis(). */
uint32_t eb_port_millis(void);
/* Reads one sample of every channel into values[0..count-1]; a failed channel is NaN. Returns 0 on success. */
int eb_port_read_sensor(float *values, uint8_t count);

#ifdef __cplusplus
}
#endif
#endif
