// libSystem.IO.Ports.Native, linked into the edgernn executable instead of loaded from a .so beside it.
//
// System.IO.Ports (managed, from NuGet) calls 19 functions in a native library named libSystem.IO.Ports.Native; its
// runtime packages ship that library only as a shared object. This file implements the same 19 entry points with the
// same signatures, enum values and behaviour, so the Native AOT build can bind them at link time
// (DirectPInvoke + NativeLibrary, see serial-ports.targets) and the binary needs nothing beside it.
//
// The ABI is System.IO.Ports 10.0's: the entry-point signatures and the managed enums (Interop.Error,
// Interop.PollEvents, Interop.Termios.Signals/Queue, Parity, StopBits, Handshake) were read from the package's
// System.IO.Ports.dll; the behaviour follows dotnet/runtime's src/native/libs/System.IO.Ports.Native (MIT, see
// LICENSE.TXT). Linux only (glibc): that is what publish.ps1 builds.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

// --- errors: Interop.Error (the managed side's platform-neutral errno) -------------------------------------------
// Codes are 0x10000 + n; PAL_ENONSTANDARD is what an errno without a managed name maps to.
enum { PAL_SUCCESS = 0, PAL_ENONSTANDARD = 0x1FFFF };

#define ERRORS(X) \
    X(E2BIG, 65537) X(EACCES, 65538) X(EADDRINUSE, 65539) X(EADDRNOTAVAIL, 65540) X(EAFNOSUPPORT, 65541) \
    X(EAGAIN, 65542) X(EALREADY, 65543) X(EBADF, 65544) X(EBADMSG, 65545) X(EBUSY, 65546) X(ECANCELED, 65547) \
    X(ECHILD, 65548) X(ECONNABORTED, 65549) X(ECONNREFUSED, 65550) X(ECONNRESET, 65551) X(EDEADLK, 65552) \
    X(EDESTADDRREQ, 65553) X(EDOM, 65554) X(EDQUOT, 65555) X(EEXIST, 65556) X(EFAULT, 65557) X(EFBIG, 65558) \
    X(EHOSTUNREACH, 65559) X(EIDRM, 65560) X(EILSEQ, 65561) X(EINPROGRESS, 65562) X(EINTR, 65563) \
    X(EINVAL, 65564) X(EIO, 65565) X(EISCONN, 65566) X(EISDIR, 65567) X(ELOOP, 65568) X(EMFILE, 65569) \
    X(EMLINK, 65570) X(EMSGSIZE, 65571) X(EMULTIHOP, 65572) X(ENAMETOOLONG, 65573) X(ENETDOWN, 65574) \
    X(ENETRESET, 65575) X(ENETUNREACH, 65576) X(ENFILE, 65577) X(ENOBUFS, 65578) X(ENODEV, 65580) \
    X(ENOENT, 65581) X(ENOEXEC, 65582) X(ENOLCK, 65583) X(ENOLINK, 65584) X(ENOMEM, 65585) X(ENOMSG, 65586) \
    X(ENOPROTOOPT, 65587) X(ENOSPC, 65588) X(ENOSYS, 65591) X(ENOTCONN, 65592) X(ENOTDIR, 65593) \
    X(ENOTEMPTY, 65594) X(ENOTRECOVERABLE, 65595) X(ENOTSOCK, 65596) X(EOPNOTSUPP, 65597) X(ENOTTY, 65598) \
    X(ENXIO, 65599) X(EOVERFLOW, 65600) X(EOWNERDEAD, 65601) X(EPERM, 65602) X(EPIPE, 65603) X(EPROTO, 65604) \
    X(EPROTONOSUPPORT, 65605) X(EPROTOTYPE, 65606) X(ERANGE, 65607) X(EROFS, 65608) X(ESPIPE, 65609) \
    X(ESRCH, 65610) X(ESTALE, 65611) X(ETIMEDOUT, 65613) X(ETXTBSY, 65614) X(EXDEV, 65615) \
    X(ESOCKTNOSUPPORT, 65630) X(EPFNOSUPPORT, 65632) X(ESHUTDOWN, 65644) X(EHOSTDOWN, 65648) X(ENODATA, 65649)

EXPORT int32_t SystemIoPortsNative_ConvertErrorPlatformToPal(int32_t platformErrno)
{
    switch (platformErrno)
    {
    case 0: return PAL_SUCCESS;
#define TO_PAL(name, pal) case name: return pal;
    ERRORS(TO_PAL)
#undef TO_PAL
    // Linux aliases of the names above (the same numbers, so a second case label would not compile): EWOULDBLOCK is
    // EAGAIN, ENOTSUP is EOPNOTSUPP.
    default: return PAL_ENONSTANDARD;
    }
}

EXPORT int32_t SystemIoPortsNative_ConvertErrorPalToPlatform(int32_t error)
{
    switch (error)
    {
    case PAL_SUCCESS: return 0;
#define FROM_PAL(name, pal) case pal: return name;
    ERRORS(FROM_PAL)
#undef FROM_PAL
    default: return -1;   // not a code of this table: no platform errno
    }
}

// The message for an errno, in the caller's buffer where possible (GNU strerror_r may return a static string instead).
EXPORT const char* SystemIoPortsNative_StrErrorR(int32_t platformErrno, char* buffer, int32_t bufferSize)
{
    if (buffer == NULL || bufferSize <= 0) return NULL;
#if defined(__GLIBC__)
    return strerror_r(platformErrno, buffer, (size_t)bufferSize);   // the GNU variant under _GNU_SOURCE
#else
    int rc = strerror_r(platformErrno, buffer, (size_t)bufferSize); // XSI: 0, or an error (ERANGE: truncated but usable)
    return rc == 0 || rc == ERANGE ? buffer : NULL;
#endif
}

static int ToFd(intptr_t handle) { return (int)handle; }

// --- open, close, read, write, poll, shutdown --------------------------------------------------------------------

// Non-blocking, no controlling terminal, exclusive (TIOCEXCL: a second open by anyone but root fails with EBUSY).
EXPORT intptr_t SystemIoPortsNative_SerialPortOpen(const char* name)
{
    int fd;
    do fd = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return -1;

    int rc;
    do rc = ioctl(fd, TIOCEXCL);
    while (rc == -1 && errno == EINTR);
    if (rc != 0)
    {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

EXPORT int32_t SystemIoPortsNative_SerialPortClose(intptr_t handle)
{
    int fd = ToFd(handle);
    // Best effort: some drivers keep the exclusive flag past close, which would block the next open.
    while (ioctl(fd, TIOCNXCL) == -1 && errno == EINTR) { }
    return close(fd);
}

EXPORT int32_t SystemIoPortsNative_Read(intptr_t handle, void* buffer, int32_t bufferSize)
{
    if (bufferSize < 0) { errno = EINVAL; return -1; }
    ssize_t n;
    do n = read(ToFd(handle), buffer, (size_t)bufferSize);
    while (n < 0 && errno == EINTR);
    return (int32_t)n;
}

EXPORT int32_t SystemIoPortsNative_Write(intptr_t handle, const void* buffer, int32_t bufferSize)
{
    if (bufferSize < 0) { errno = EINVAL; return -1; }
    ssize_t n;
    do n = write(ToFd(handle), buffer, (size_t)bufferSize);
    while (n < 0 && errno == EINTR);
    return (int32_t)n;
}

// Interop.PollEvents and Interop.PollEvent (int32 fd, int16 events, int16 triggered: 8 bytes).
enum { PAL_POLLIN = 0x01, PAL_POLLPRI = 0x02, PAL_POLLOUT = 0x04, PAL_POLLERR = 0x08, PAL_POLLHUP = 0x10, PAL_POLLNVAL = 0x20 };

typedef struct
{
    int32_t FileDescriptor;
    int16_t Events;
    int16_t TriggeredEvents;
} PalPollEvent;

_Static_assert(sizeof(PalPollEvent) == 8, "Interop.PollEvent is 8 bytes");

static short PollToNative(int16_t pal)
{
    return (short)(((pal & PAL_POLLIN) ? POLLIN : 0) | ((pal & PAL_POLLPRI) ? POLLPRI : 0) | ((pal & PAL_POLLOUT) ? POLLOUT : 0) |
                   ((pal & PAL_POLLERR) ? POLLERR : 0) | ((pal & PAL_POLLHUP) ? POLLHUP : 0) | ((pal & PAL_POLLNVAL) ? POLLNVAL : 0));
}

static int16_t PollToPal(short native)
{
    return (int16_t)(((native & POLLIN) ? PAL_POLLIN : 0) | ((native & POLLPRI) ? PAL_POLLPRI : 0) | ((native & POLLOUT) ? PAL_POLLOUT : 0) |
                     ((native & POLLERR) ? PAL_POLLERR : 0) | ((native & POLLHUP) ? PAL_POLLHUP : 0) | ((native & POLLNVAL) ? PAL_POLLNVAL : 0));
}

// Returns an Interop.Error (0 on success); *triggered = how many entries have events. EINTR is retried (a signal may
// stretch the timeout), as upstream does. The managed caller polls one descriptor, so the stack array covers it.
EXPORT int32_t SystemIoPortsNative_Poll(PalPollEvent* pollEvents, uint32_t eventCount, int32_t milliseconds, uint32_t* triggered)
{
    enum { StackEvents = 16 };
    if (pollEvents == NULL || triggered == NULL) return SystemIoPortsNative_ConvertErrorPlatformToPal(EFAULT);
    if (milliseconds < -1) return SystemIoPortsNative_ConvertErrorPlatformToPal(EINVAL);

    struct pollfd stack[StackEvents];
    struct pollfd* fds = eventCount <= StackEvents ? stack : calloc(eventCount, sizeof *fds);
    if (fds == NULL) return SystemIoPortsNative_ConvertErrorPlatformToPal(ENOMEM);
    for (uint32_t i = 0; i < eventCount; i++)
    {
        fds[i].fd = pollEvents[i].FileDescriptor;
        fds[i].events = PollToNative(pollEvents[i].Events);
        fds[i].revents = 0;
    }
    int rc;
    do rc = poll(fds, (nfds_t)eventCount, milliseconds);
    while (rc < 0 && errno == EINTR);
    int32_t result = PAL_SUCCESS;
    if (rc < 0)
    {
        *triggered = 0;
        result = SystemIoPortsNative_ConvertErrorPlatformToPal(errno);
    }
    else
    {
        for (uint32_t i = 0; i < eventCount; i++) pollEvents[i].TriggeredEvents = PollToPal(fds[i].revents);
        *triggered = (uint32_t)rc;
    }
    if (fds != stack) free(fds);
    return result;
}

// System.Net.Sockets.SocketShutdown: Receive 0, Send 1, Both 2.
EXPORT int32_t SystemIoPortsNative_Shutdown(intptr_t socket, int32_t socketShutdown)
{
    int how;
    switch (socketShutdown)
    {
    case 0: how = SHUT_RD; break;
    case 1: how = SHUT_WR; break;
    case 2: how = SHUT_RDWR; break;
    default: return SystemIoPortsNative_ConvertErrorPlatformToPal(EINVAL);
    }
    return shutdown(ToFd(socket), how) == 0 ? PAL_SUCCESS : SystemIoPortsNative_ConvertErrorPlatformToPal(errno);
}

// --- termios -----------------------------------------------------------------------------------------------------

enum { SignalDtr = 1, SignalDsr = 2, SignalRts = 4, SignalCts = 8, SignalDcd = 16, SignalRng = 32 };   // Interop.Termios.Signals
enum { AllQueues = 0, ReceiveQueue = 1, SendQueue = 2 };                                               // Interop.Termios.Queue
enum { ParityNone = 0, ParityOdd = 1, ParityEven = 2, ParityMark = 3, ParitySpace = 4 };               // System.IO.Ports.Parity
enum { HandshakeNone = 0, HandshakeXOnXOff = 1, HandshakeRts = 2, HandshakeRtsXOnXOff = 3 };           // System.IO.Ports.Handshake

static int ModemStatus(int fd)
{
    int status = 0;
    return ioctl(fd, TIOCMGET, &status) < 0 ? -1 : status;
}

EXPORT int32_t SystemIoPortsNative_TermiosGetSignal(intptr_t handle, int32_t signal)
{
    int status = ModemStatus(ToFd(handle));
    if (status == -1) return -1;
    switch (signal)
    {
    case SignalDtr: return (status & TIOCM_DTR) != 0;
    case SignalDsr: return (status & TIOCM_DSR) != 0;
    case SignalRts: return (status & TIOCM_RTS) != 0;
    case SignalCts: return (status & TIOCM_CTS) != 0;
    case SignalDcd: return (status & TIOCM_CAR) != 0;
    default: return -1;
    }
}

EXPORT int32_t SystemIoPortsNative_TermiosGetAllSignals(intptr_t handle)
{
    int status = ModemStatus(ToFd(handle));
    if (status == -1) return -1;
    return ((status & TIOCM_CTS) ? SignalCts : 0) | ((status & TIOCM_DSR) ? SignalDsr : 0) |
           ((status & TIOCM_CAR) ? SignalDcd : 0) | ((status & TIOCM_RNG) ? SignalRng : 0);
}

EXPORT int32_t SystemIoPortsNative_TermiosSetSignal(intptr_t handle, int32_t signal, int32_t set)
{
    int fd = ToFd(handle), bit;
    switch (signal)
    {
    case SignalRts: bit = TIOCM_RTS; break;
    case SignalDtr: bit = TIOCM_DTR; break;
    default: errno = EINVAL; return -1;
    }
    int status = ModemStatus(fd);
    if (status < 0) return -1;
    status = set ? (status | bit) : (status & ~bit);
    return ioctl(fd, TIOCMSET, &status);
}

// Baud rate <-> termios speed_t; B0 for a rate termios has no constant for.
static const struct { int32_t rate; speed_t code; } Speeds[] = {
    { 50, B50 }, { 75, B75 }, { 110, B110 }, { 134, B134 }, { 150, B150 }, { 200, B200 }, { 300, B300 }, { 600, B600 },
    { 1200, B1200 }, { 1800, B1800 }, { 2400, B2400 }, { 4800, B4800 }, { 9600, B9600 }, { 19200, B19200 },
    { 38400, B38400 }, { 57600, B57600 }, { 115200, B115200 }, { 230400, B230400 },
#ifdef B460800
    { 460800, B460800 },
#endif
#ifdef B500000
    { 500000, B500000 },
#endif
#ifdef B576000
    { 576000, B576000 },
#endif
#ifdef B921600
    { 921600, B921600 },
#endif
#ifdef B1000000
    { 1000000, B1000000 },
#endif
#ifdef B1152000
    { 1152000, B1152000 },
#endif
#ifdef B1500000
    { 1500000, B1500000 },
#endif
#ifdef B2000000
    { 2000000, B2000000 },
#endif
#ifdef B2500000
    { 2500000, B2500000 },
#endif
#ifdef B3000000
    { 3000000, B3000000 },
#endif
#ifdef B3500000
    { 3500000, B3500000 },
#endif
#ifdef B4000000
    { 4000000, B4000000 },
#endif
};

static speed_t RateToCode(int32_t rate)
{
    for (size_t i = 0; i < sizeof Speeds / sizeof Speeds[0]; i++)
        if (Speeds[i].rate == rate) return Speeds[i].code;
    return B0;
}

static int32_t CodeToRate(speed_t code)
{
    for (size_t i = 0; i < sizeof Speeds / sizeof Speeds[0]; i++)
        if (Speeds[i].code == code) return Speeds[i].rate;
    return (int32_t)code;
}

EXPORT int32_t SystemIoPortsNative_TermiosGetSpeed(intptr_t handle)
{
    struct termios term;
    if (tcgetattr(ToFd(handle), &term) < 0) return -1;
    return CodeToRate(cfgetispeed(&term));
}

int EdgeRnnSerialPorts_Termios2SetSpeed(int fd, int speed);   // serial_ports_termios2.c

// Returns the rate set, -1 when the terminal cannot be read, -2 when tcsetattr failed. A rate without a Bnnn
// constant is set as a number through termios2 and returns 0 (or -1), as the package's library does.
EXPORT int32_t SystemIoPortsNative_TermiosSetSpeed(intptr_t handle, int32_t speed)
{
    int fd = ToFd(handle);
    speed_t code = RateToCode(speed);
    if (code == B0) return EdgeRnnSerialPorts_Termios2SetSpeed(fd, speed);
    struct termios term;
    if (tcgetattr(fd, &term) < 0) return -1;
    cfsetspeed(&term, code);
    if (tcsetattr(fd, TCSANOW, &term) < 0) return -2;
    return speed;
}

EXPORT int32_t SystemIoPortsNative_TermiosAvailableBytes(intptr_t handle, int32_t readBuffer)
{
    int bytes = 0;
    return ioctl(ToFd(handle), readBuffer ? FIONREAD : TIOCOUTQ, &bytes) == -1 ? -1 : bytes;
}

EXPORT int32_t SystemIoPortsNative_TermiosDiscard(intptr_t handle, int32_t queue)
{
    return tcflush(ToFd(handle), queue == ReceiveQueue ? TCIFLUSH : queue == SendQueue ? TCOFLUSH : TCIOFLUSH);
}

EXPORT int32_t SystemIoPortsNative_TermiosDrain(intptr_t handle) { return tcdrain(ToFd(handle)); }

EXPORT int32_t SystemIoPortsNative_TermiosSendBreak(intptr_t handle, int32_t duration) { return tcsendbreak(ToFd(handle), duration); }

// Raw mode with the given framing, parity and flow control. Mark and space parity are set as none, as upstream does.
// speed 0 keeps the current rate; a rate without a Bnnn constant is set through termios2 after the rest.
EXPORT int32_t SystemIoPortsNative_TermiosReset(intptr_t handle, int32_t speed, int32_t dataBits, int32_t stopBits, int32_t parity, int32_t handshake)
{
    int fd = ToFd(handle);
    struct termios term;
    if (tcgetattr(fd, &term) < 0) return -1;

    cfmakeraw(&term);
    term.c_cflag |= CLOCAL | CREAD;
    term.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ECHOE | ECHOK | ECHONL | ISIG | IEXTEN);
    term.c_oflag &= ~(tcflag_t)OPOST;

    term.c_cflag &= ~(tcflag_t)CSIZE;
    term.c_cflag |= dataBits == 5 ? CS5 : dataBits == 6 ? CS6 : dataBits == 7 ? CS7 : CS8;

    if (stopBits == 1) term.c_cflag &= ~(tcflag_t)CSTOPB;   // StopBits.One; Two and OnePointFive both mean two on termios
    else if (stopBits > 1) term.c_cflag |= CSTOPB;

    term.c_iflag &= ~(tcflag_t)(INPCK | ISTRIP);
    if (parity == ParityOdd) term.c_cflag |= PARENB | PARODD;
    else if (parity == ParityEven) { term.c_cflag |= PARENB; term.c_cflag &= ~(tcflag_t)PARODD; }
    else term.c_cflag &= ~(tcflag_t)(PARENB | PARODD);

    term.c_iflag &= ~(tcflag_t)(IXOFF | IXON);
    term.c_cflag &= ~(tcflag_t)CRTSCTS;
    if (handshake == HandshakeRts || handshake == HandshakeRtsXOnXOff) term.c_cflag |= CRTSCTS;
    if (handshake == HandshakeXOnXOff || handshake == HandshakeRtsXOnXOff) term.c_iflag |= IXOFF | IXON;

    speed_t code = speed != 0 ? RateToCode(speed) : B0;
    if (code != B0 && cfsetspeed(&term, code) != 0) return -1;
    if (tcsetattr(fd, TCSANOW, &term) < 0) return -1;
    if (speed != 0 && code == B0 && EdgeRnnSerialPorts_Termios2SetSpeed(fd, speed) < 0) return -1;
    return 0;
}
