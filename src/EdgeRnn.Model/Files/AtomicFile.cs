using System.Runtime.InteropServices;

namespace EdgeRnn.Model;

/// <summary>
/// Replaces a file so that a crash at any moment leaves either the old file or the complete new one, never a mix:
/// write a temp file beside it, fsync it, rename over the target, fsync the directory (so the rename itself is durable).
/// The one atomic-write helper: models, forecasts, plots, checkpoints and the daemon's outbox files all go through it.
/// A failed write removes its temp file (a full disk must not be left fuller).
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, byte[] content) => Write(path, s => s.Write(content));

    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        string temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        FsyncDirectory(dir);
    }

    /// <summary>Whether the directory fsync after the rename can run here (libc found), for diagnostics and tests.</summary>
    public static bool DirectorySyncAvailable => !OperatingSystem.IsWindows() && Libc.Available;

    /// <summary>Makes a rename or a new file in <paramref name="dir"/> durable (best effort: a filesystem may refuse).</summary>
    public static void FsyncDirectory(string dir)
    {
        if (OperatingSystem.IsWindows()) return; // NTFS journals the rename; there is no directory handle to flush.
        // .NET refuses to open a directory as a file, so this goes to libc: open(dir, O_RDONLY), fsync, close.
        // Resolved by hand (not [DllImport("libc")]) because "libc" alone resolves only where the libc6-dev linker
        // script happens to be installed; libc.so.6 is what a Raspberry Pi OS image has.
        if (!Libc.Available) return;
        byte[] path = System.Text.Encoding.UTF8.GetBytes(dir + "\0");
        unsafe
        {
            fixed (byte* p = path)
            {
                int fd = Libc.Open(p, 0 /* O_RDONLY */);
                if (fd < 0) return; // Some filesystems refuse to open directories; the data itself is already on disk.
                _ = Libc.Fsync(fd);
                _ = Libc.Close(fd);
            }
        }
    }

    private static unsafe class Libc
    {
        public static readonly bool Available;
        public static readonly delegate* unmanaged<byte*, int, int> Open;
        public static readonly delegate* unmanaged<int, int> Fsync;
        public static readonly delegate* unmanaged<int, int> Close;

        static Libc()
        {
            foreach (string name in (string[])["libc.so.6", "libSystem.dylib", "libc.so", "libc"])
            {
                if (!NativeLibrary.TryLoad(name, out nint lib)) continue;
                if (NativeLibrary.TryGetExport(lib, "open", out nint open) && NativeLibrary.TryGetExport(lib, "fsync", out nint fsync)
                    && NativeLibrary.TryGetExport(lib, "close", out nint close))
                {
                    Open = (delegate* unmanaged<byte*, int, int>)open;
                    Fsync = (delegate* unmanaged<int, int>)fsync;
                    Close = (delegate* unmanaged<int, int>)close;
                    Available = true;
                    return;
                }
            }
        }
    }
}
