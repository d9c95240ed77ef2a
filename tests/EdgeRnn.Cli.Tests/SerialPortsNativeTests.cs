using System.Runtime.InteropServices;
using System.Text;

namespace EdgeRnn.Cli.Tests;

/// <summary>
/// native/serial-ports/serial_ports.c (linked into the published edgernn) against the libSystem.IO.Ports.Native.so that
/// System.IO.Ports' own runtime package ships (in this test's bin/runtimes folder): both loaded side by side, same calls,
/// same answers: the error tables, strerror, and the termios state each leaves on a pseudo-terminal.
/// </summary>
public sealed unsafe class SerialPortsNativeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edgernn-serial-native-").FullName;
    private readonly nint _ours, _theirs;

    public SerialPortsNativeTests()
    {
        string ours = Path.Combine(_dir, "libours.so");
        string cc = PublishTests.FindOnPath("clang") ?? PublishTests.FindOnPath("cc") ?? throw new InvalidOperationException("no C compiler (clang; test.sh installs it)");
        string src = Path.Combine(Repo.Root, "native", "serial-ports");
        var r = Repo.Run(cc, ["-std=c11", "-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror", "-o", ours,
            Path.Combine(src, "serial_ports.c"), Path.Combine(src, "serial_ports_termios2.c")], TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
        _ours = NativeLibrary.Load(ours);
        string arch = RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "arm64" : "x64";
        string theirs = Path.Combine(AppContext.BaseDirectory, "runtimes", $"linux-{arch}", "native", "libSystem.IO.Ports.Native.so");
        Assert.True(File.Exists(theirs), $"{theirs} missing (System.IO.Ports' runtime package)");
        _theirs = NativeLibrary.Load(theirs);
    }

    public void Dispose()
    {
        NativeLibrary.Free(_ours);
        NativeLibrary.Free(_theirs);
        Directory.Delete(_dir, true);
    }

    private static readonly string[] EntryPoints =
    [
        "SystemIoPortsNative_SerialPortOpen", "SystemIoPortsNative_SerialPortClose", "SystemIoPortsNative_Read", "SystemIoPortsNative_Write",
        "SystemIoPortsNative_Poll", "SystemIoPortsNative_Shutdown", "SystemIoPortsNative_ConvertErrorPlatformToPal",
        "SystemIoPortsNative_ConvertErrorPalToPlatform", "SystemIoPortsNative_StrErrorR", "SystemIoPortsNative_TermiosGetSignal",
        "SystemIoPortsNative_TermiosSetSignal", "SystemIoPortsNative_TermiosGetAllSignals", "SystemIoPortsNative_TermiosSetSpeed",
        "SystemIoPortsNative_TermiosGetSpeed", "SystemIoPortsNative_TermiosAvailableBytes", "SystemIoPortsNative_TermiosDiscard",
        "SystemIoPortsNative_TermiosDrain", "SystemIoPortsNative_TermiosSendBreak", "SystemIoPortsNative_TermiosReset",
    ];

    [Fact]
    public void Every_entry_point_of_the_packages_library_is_implemented()
    {
        foreach (string name in EntryPoints)
        {
            Assert.True(NativeLibrary.TryGetExport(_theirs, name, out _), $"the package's library lacks {name}: the list is stale");
            Assert.True(NativeLibrary.TryGetExport(_ours, name, out _), $"serial_ports.c lacks {name}");
        }
    }

    [Fact]
    public void Error_tables_and_messages_match_the_packages()
    {
        var toPalOurs = (delegate* unmanaged<int, int>)NativeLibrary.GetExport(_ours, "SystemIoPortsNative_ConvertErrorPlatformToPal");
        var toPalTheirs = (delegate* unmanaged<int, int>)NativeLibrary.GetExport(_theirs, "SystemIoPortsNative_ConvertErrorPlatformToPal");
        var fromPalOurs = (delegate* unmanaged<int, int>)NativeLibrary.GetExport(_ours, "SystemIoPortsNative_ConvertErrorPalToPlatform");
        var fromPalTheirs = (delegate* unmanaged<int, int>)NativeLibrary.GetExport(_theirs, "SystemIoPortsNative_ConvertErrorPalToPlatform");
        var strOurs = (delegate* unmanaged<int, byte*, int, byte*>)NativeLibrary.GetExport(_ours, "SystemIoPortsNative_StrErrorR");
        var strTheirs = (delegate* unmanaged<int, byte*, int, byte*>)NativeLibrary.GetExport(_theirs, "SystemIoPortsNative_StrErrorR");

        // Every errno the managed Interop.Error enum names maps to the same code both ways; an errno it does not name
        // may map to a code of the package's wider table in theirs, and to "non-standard" (0x1FFFF) in ours.
        int named = 0;
        byte* a = stackalloc byte[256], b = stackalloc byte[256];
        for (int errno = 0; errno < 256; errno++)
        {
            int ours = toPalOurs(errno), theirs = toPalTheirs(errno);
            if (ours != 0x1FFFF)
            {
                Assert.True(theirs == ours, $"errno {errno}: ours {ours:x}, package {theirs:x}");
                Assert.Equal(fromPalTheirs(ours), fromPalOurs(ours));
                Assert.Equal(errno, fromPalOurs(ours));
                named++;
            }
            string? so = Marshal.PtrToStringUTF8((nint)strOurs(errno, a, 256)), st = Marshal.PtrToStringUTF8((nint)strTheirs(errno, b, 256));
            Assert.Equal(st, so);
        }
        Assert.True(named >= 75, $"only {named} errnos mapped");
        Assert.Equal(0x10000 + 28, toPalOurs(22));   // EINVAL, a value the managed enum names
    }

    // --- a pseudo-terminal, as socat makes them ------------------------------------------------------------------
    [DllImport("libc", SetLastError = true)] private static extern int posix_openpt(int flags);
    [DllImport("libc", SetLastError = true)] private static extern int grantpt(int fd);
    [DllImport("libc", SetLastError = true)] private static extern int unlockpt(int fd);
    [DllImport("libc", SetLastError = true)] private static extern int ptsname_r(int fd, byte* buf, nint len);
    [DllImport("libc", SetLastError = true)] private static extern int tcgetattr(int fd, byte* termios);
    [DllImport("libc", SetLastError = true)] private static extern int tcsetattr(int fd, int when, byte* termios);
    [DllImport("libc", SetLastError = true)] private static extern int close(int fd);
    [DllImport("libc", SetLastError = true)] private static extern nint write(int fd, byte* buf, nint n);

    private static (int Master, string Slave) OpenPty()
    {
        int m = posix_openpt(2 /* O_RDWR */ | 0x100 /* O_NOCTTY */);
        Assert.True(m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0, $"posix_openpt: errno {Marshal.GetLastPInvokeError()}");
        byte* name = stackalloc byte[128];
        Assert.Equal(0, ptsname_r(m, name, 128));
        return (m, Marshal.PtrToStringUTF8((nint)name)!);
    }

    private static byte[] Termios(nint fd)
    {
        byte* t = stackalloc byte[256];
        new Span<byte>(t, 256).Clear();
        Assert.Equal(0, tcgetattr((int)fd, t));
        return new Span<byte>(t, 64).ToArray();   // struct termios: 60 bytes on glibc x64/arm64
    }

    [Fact]
    public void Termios_reset_speed_signals_and_io_leave_a_pty_as_the_packages_library_does()
    {
        var (master, slave) = OpenPty();
        try
        {
            var lib = new[] { _ours, _theirs };
            nint Fn(int i, string name) => NativeLibrary.GetExport(lib[i], "SystemIoPortsNative_" + name);
            byte[] path = Encoding.UTF8.GetBytes(slave + "\0");
            fixed (byte* p = path)
            {
                for (int i = 0; i < 2; i++)
                {
                    nint fd = ((delegate* unmanaged<byte*, nint>)Fn(i, "SerialPortOpen"))(p);
                    Assert.True(fd >= 0, $"open {slave}: errno {Marshal.GetLastSystemError()}");
                    // TIOCEXCL: a second open of the same terminal fails (not root-proof, so only when not root).
                    if (Environment.UserName != "root")
                        Assert.True(((delegate* unmanaged<byte*, nint>)Fn(i, "SerialPortOpen"))(p) < 0, "second open succeeded despite TIOCEXCL");
                    ((delegate* unmanaged<nint, int>)Fn(i, "SerialPortClose"))(fd);
                }
                nint port = ((delegate* unmanaged<byte*, nint>)Fn(0, "SerialPortOpen"))(p);
                Assert.True(port >= 0);
                try
                {
                    // speed, data bits, StopBits (1 one, 2 two, 3 one and a half), Parity (0..4), Handshake (0..3)
                    int[][] settings =
                    [
                        [115200, 8, 1, 0, 0], [9600, 7, 2, 2, 1], [57600, 5, 3, 1, 2], [230400, 6, 1, 3, 3], [4000000, 8, 2, 4, 0],
                        [0, 8, 1, 0, 0], [12345, 8, 1, 0, 0], [250000, 8, 1, 0, 0], [-5, 8, 1, 0, 0], [1200, 9, 0, 7, 9],
                    ];
                    foreach (int[] s in settings)
                    {
                        var results = new (int Rc, byte[] Termios, int Speed)[2];
                        for (int i = 0; i < 2; i++)
                        {
                            // the same state before each library's call: 300 baud, 8N1, and input flags a reset must sort out
                            Assert.Equal(0, ((delegate* unmanaged<nint, int, int, int, int, int, int>)Fn(1, "TermiosReset"))(port, 300, 8, 1, 0, 0));
                            byte[] dirty = Termios(port);
                            BitConverter.TryWriteBytes(dirty, 0x01 | 0x02 | 0x04 | 0x100 | 0x800 | 0x2000 | 0x4000 | 0x10 | 0x20); // IGNBRK BRKINT IGNPAR ICRNL IXANY IMAXBEL IUTF8 INPCK ISTRIP
                            fixed (byte* d = dirty) Assert.Equal(0, tcsetattr((int)port, 0, d));
                            int rc = ((delegate* unmanaged<nint, int, int, int, int, int, int>)Fn(i, "TermiosReset"))(port, s[0], s[1], s[2], s[3], s[4]);
                            results[i] = (rc, Termios(port), ((delegate* unmanaged<nint, int>)Fn(i, "TermiosGetSpeed"))(port));
                        }
                        string what = $"TermiosReset({string.Join(", ", s)})";
                        Assert.True(results[0].Rc == results[1].Rc, $"{what}: ours {results[0].Rc}, package {results[1].Rc}");
                        Assert.True(results[0].Termios.AsSpan().SequenceEqual(results[1].Termios), $"{what}: termios differ\nours    {Convert.ToHexString(results[0].Termios)}\npackage {Convert.ToHexString(results[1].Termios)}");
                        Assert.Equal(results[1].Speed, results[0].Speed);
                    }
                    for (int i = 0; i < 2; i++)
                    {
                        Assert.Equal(38400, ((delegate* unmanaged<nint, int, int>)Fn(i, "TermiosSetSpeed"))(port, 38400));
                        Assert.Equal(38400, ((delegate* unmanaged<nint, int>)Fn(i, "TermiosGetSpeed"))(port));
                        // a rate without a Bnnn constant goes through termios2 (BOTHER), and answers 0
                        Assert.Equal(0, ((delegate* unmanaged<nint, int, int>)Fn(i, "TermiosSetSpeed"))(port, 250000));
                        Assert.Equal(0x1000 /* BOTHER, what cfgetispeed reports */, ((delegate* unmanaged<nint, int>)Fn(i, "TermiosGetSpeed"))(port));
                    }

                    // bytes written at the device end: available, polled, read
                    byte* msg = stackalloc byte[] { 1, 2, 3, 4, 5 };
                    byte* buf = stackalloc byte[16];
                    for (int i = 0; i < 2; i++)
                    {
                        Assert.Equal(5, (int)write(master, msg, 5));
                        var poll = (delegate* unmanaged<long*, uint, int, uint*, int>)Fn(i, "Poll");
                        long ev = (uint)(int)port | ((long)1 << 32);   // { fd, events POLLIN, triggered 0 }
                        uint triggered = 0;
                        Assert.Equal(0, poll(&ev, 1, 2000, &triggered));
                        Assert.Equal(1u, triggered);
                        Assert.Equal(1, (int)(ev >> 48) & 1);   // POLLIN triggered
                        Assert.Equal(5, ((delegate* unmanaged<nint, int, int>)Fn(i, "TermiosAvailableBytes"))(port, 1));
                        Assert.Equal(5, ((delegate* unmanaged<nint, byte*, int, int>)Fn(i, "Read"))(port, buf, 16));
                        Assert.True(new Span<byte>(buf, 5).SequenceEqual(new Span<byte>(msg, 5)));
                        Assert.Equal(3, ((delegate* unmanaged<nint, byte*, int, int>)Fn(i, "Write"))(port, msg, 3));
                        Assert.Equal(0, ((delegate* unmanaged<nint, int, int>)Fn(i, "TermiosDiscard"))(port, 0));
                    }
                }
                finally { ((delegate* unmanaged<nint, int>)Fn(0, "SerialPortClose"))(port); }
            }
        }
        finally { close(master); }
    }
}
