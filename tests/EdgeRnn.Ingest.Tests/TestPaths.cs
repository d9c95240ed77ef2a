namespace EdgeRnn.Ingest.Tests;

internal static class TestPaths
{
    /// <summary>The repository root (the directory holding EdgeRnn.sln), found from the test binary's location.</summary>
    public static string Root
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "EdgeRnn.sln"))) return d.FullName;
            throw new InvalidOperationException("EdgeRnn.sln not found above " + AppContext.BaseDirectory);
        }
    }

    public static string GoldenVectors => Path.Combine(Root, "firmware-bridge", "golden", "vectors.txt");

    /// <summary>A fresh directory under /tmp, deleted on dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("edgernn-ingest-").FullName;
        public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
    }
}
