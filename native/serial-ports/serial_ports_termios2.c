// Baud rates without a Bnnn constant (e.g. 250000 for some 3D printers, 31250 for MIDI), through Linux's termios2
// (BOTHER: the rate as a number). A file of its own because <asm/termbits.h> cannot share one with glibc's <termios.h>.
// Part of the libSystem.IO.Ports.Native implementation in serial_ports.c (see LICENSE.TXT).
#include <asm/ioctls.h>
#include <asm/termbits.h>
#include <errno.h>
#include <sys/ioctl.h>

int EdgeRnnSerialPorts_Termios2SetSpeed(int fd, int speed);

int EdgeRnnSerialPorts_Termios2SetSpeed(int fd, int speed)
{
    struct termios2 tio;
    int rc;
    do rc = ioctl(fd, TCGETS2, &tio);
    while (rc == -1 && errno == EINTR);
    if (rc < 0) return -1;

    tio.c_cflag &= ~(tcflag_t)(CBAUD | CBAUDEX | ((CBAUD | CBAUDEX) << IBSHIFT));
    tio.c_cflag |= BOTHER | (BOTHER << IBSHIFT);
    tio.c_ispeed = (speed_t)speed;
    tio.c_ospeed = (speed_t)speed;

    do rc = ioctl(fd, TCSETS2, &tio);
    while (rc == -1 && errno == EINTR);
    return rc < 0 ? -1 : 0;
}
