using System.Diagnostics;
using EdgeRnn.Model;

namespace EdgeRnn.Model.Tests;

/// <summary>Runs the checked-in PyTorch scripts (tests/python) with /usr/bin/python3 or $EDGERNN_PYTHON.</summary>
public static class PyTorch
{
    public static string RepoRoot
    {
        get
        {
            string root = AppContext.BaseDirectory;
            while (!File.Exists(Path.Combine(root, "EdgeRnn.sln")))
                root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("repository root not found");
            return root;
        }
    }

    public static void Run(string script, params string[] args)
    {
        string python = Environment.GetEnvironmentVariable("EDGERNN_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
        string path = Path.Combine(RepoRoot, "tests", "python", script);
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["PYTHONDONTWRITEBYTECODE"] = "1"; // leave the checkout clean
        psi.ArgumentList.Add(path);
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var proc = Process.Start(psi)!;
        var stderr = proc.StandardError.ReadToEndAsync();
        string stdout = proc.StandardOutput.ReadToEnd();
        proc.WaitForExit();
        if (proc.ExitCode != 0) throw new InvalidOperationException($"{python} {path} failed ({proc.ExitCode}): {stdout}\n{stderr.Result}");
    }

    public static Dictionary<string, SafeTensor> ReadTensors(string path)
    {
        var (tensors, _) = SafeTensors.Read(File.ReadAllBytes(path), path);
        return tensors.ToDictionary(t => t.Name);
    }

    /// <summary>max |a − b| / max(|b|, floor) over a tensor: error relative to the tensor's scale.</summary>
    public static double ScaledError(ReadOnlySpan<float> got, ReadOnlySpan<float> want, double floor = 1e-6)
    {
        Assert.Equal(want.Length, got.Length);
        double maxDiff = 0, scale = floor;
        for (int i = 0; i < want.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(got[i] - want[i]));
            scale = Math.Max(scale, Math.Abs(want[i]));
        }
        return maxDiff / scale;
    }
}

/// <summary>One python run for the whole assembly: gradients and training fixtures.</summary>
public sealed class TorchFixtures : IDisposable
{
    public string Dir { get; }

    public TorchFixtures()
    {
        Dir = Path.Combine(Path.GetTempPath(), "edgernn-model-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Dir);
        PyTorch.Run("make_fixtures.py", Dir, "grad", "ce", "train");
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

[CollectionDefinition("torch")]
public sealed class TorchCollection : ICollectionFixture<TorchFixtures>;
