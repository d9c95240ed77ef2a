using System.Runtime.InteropServices;

namespace EdgeRnn.Daemon;

/// <summary>CRC-32 (IEEE, reflected 0xEDB88320): per-record and per-checkpoint integrity, no package needed.</summary>
public static class Crc32
{
    private static readonly uint[] Table = Build();

    private static uint[] Build()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in data) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }
}

/// <summary>
/// Crash-safe file replacement: write temp, fsync, rename over, fsync the directory, so that after a crash or power cut
/// the path holds either the old or the new complete content, never a mix.
/// </summary>
public static partial class DurableFile
{
    private static long _tmpCounter;

    public static void WriteAtomic(string path, ReadOnlySpan<byte> content)
    {
        // a temp name of our own (two writers never share one), removed again when anything fails (a full disk
        // must not be left fuller by half-written temp files)
        string tmp = $"{path}.{Environment.ProcessId}.{Interlocked.Increment(ref _tmpCounter)}.tmp";
        try
        {
            using (var h = File.OpenHandle(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                RandomAccess.Write(h, content, 0);
                RandomAccess.FlushToDisk(h);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            throw;
        }
        FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>The rename itself lives in the directory: without this a power cut can undo it.</summary>
    public static void FsyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD()) return;
        int fd = Open(directory, 0 /* O_RDONLY */);
        if (fd < 0) return; // best effort: some filesystems refuse to open directories
        try { _ = Fsync(fd); }
        finally { _ = Close(fd); }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
