using System.Runtime.InteropServices;

namespace EdgeRnn.Model;

/// <summary>
/// Replaces a file so that a crash at any moment leaves either the old file or the complete new one, never a mix:
/// write a temp file beside it, fsync it, rename over the target, fsync the directory (so the rename itself is durable).
/// </summary>
public static partial class AtomicFile
{
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

    private static void FsyncDirectory(string dir)
    {
        if (OperatingSystem.IsWindows()) return; // NTFS journals the rename; there is no directory handle to flush.
        int fd = Open(dir, 0 /* O_RDONLY */);
        if (fd < 0) return; // Some filesystems refuse to open directories; the data itself is already on disk.
        try { _ = Fsync(fd); }
        finally { _ = Close(fd); }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
