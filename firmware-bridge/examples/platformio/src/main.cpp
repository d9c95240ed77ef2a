// Example board glue for the EdgeRnn firmware bridge: two analog channels at 100 Hz over USB serial.
// Copy (or symlink) ../../../include/*.h and ../../../src/*.c next to this sketch, or use the PlatformIO
// layout in examples/platformio, which points at them directly.
#include <Arduino.h>

extern "C" {
#include "eb_device.h"
#include "eb_port.h"
}

static const char *const kNames[] = {"a0", "a1"};
static const char *const kUnits[] = {"V", "V"};
static eb_device device;

extern "C" void eb_port_uart_write(const uint8_t *data, size_t len) { Serial.write(data, len); }
extern "C" uint32_t eb_port_millis(void) { return millis(); }
extern "C" int eb_port_read_sensor(float *values, uint8_t count)
{
    static const uint8_t pins[] = {A0, A1};
    for (uint8_t i = 0; i < count && i < 2; i++) values[i] = analogRead(pins[i]) * (5.0f / 1023.0f);
    return 0;
}

void setup()
{
    Serial.begin(115200);
    const eb_device_config cfg = {"arduino-uno-1", 10, 2, kNames, kUnits};
    eb_device_init(&device, &cfg);
}

void loop() { eb_device_poll(&device); }
