using System.Numerics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Arm = System.Runtime.Intrinsics.Arm;
using X86 = System.Runtime.Intrinsics.X86;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// `edgernn version` / `edgernn --version`: what was built (version, commit, target instruction set) and what this CPU
/// offers, so a bug report from a Pi says which kernel path ran. The first line is "edgernn VERSION" alone, for scripts.
/// </summary>
public static class VersionCommand
{
    public static int Run(string[] args)
    {
        var a = new Args(args, Array.Empty<string>());
        a.RejectUnknown();
        if (a.Positional.Count > 0) throw new UsageException($"unexpected argument '{a.Positional[0]}'");

        var (version, commit) = SplitInformationalVersion(
            typeof(VersionCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion);
        Console.WriteLine($"edgernn {version}");
        Line("commit", commit ?? "unknown");
        Line("runtime", $"{RuntimeInformation.RuntimeIdentifier} ({RuntimeInformation.FrameworkDescription})");
        Line("built for", $"{BuildMetadata("EdgeRnnInstructionSet") ?? "default"} instruction set");
        Line("cpu", $"{RuntimeInformation.ProcessArchitecture}, {Environment.ProcessorCount} logical cores");
        Line("instruction sets", string.Join(' ', DetectedInstructionSets()));
        Line("vectors", $"Vector<T> {Vector<byte>.Count * 8} bits; hardware-accelerated: {AcceleratedWidths()}");

        Line("int8 kernel path", EdgeRnn.Numerics.Int8.Int8Kernels.Active.PathName);

        // Native AOT compiled for the portable x64 baseline cannot use VEX-encoded AVX2 even behind IsSupported checks:
        // say so when the CPU could, since the default (x86-64-v3) linux-x64 build would run the wider kernels here.
        if (RuntimeInformation.ProcessArchitecture == Architecture.X64 && !X86.Avx2.IsSupported && CpuInfoHasFlag("avx2"))
            Console.WriteLine("note: this CPU has AVX2 but this build cannot use it; the default linux-x64 build (x86-64-v3) can");
        return 0;
    }

    private static void Line(string label, string value) => Console.WriteLine($"{label + ":",-18}{value}");

    private static bool CpuInfoHasFlag(string flag)
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("flags", StringComparison.Ordinal))
                    return line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(flag);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return false;
    }

    /// <summary>"0.1.0+9a27f26..." (SourceLink or publish.ps1's SourceRevisionId) → ("0.1.0", "9a27f26...").</summary>
    public static (string Version, string? Commit) SplitInformationalVersion(string? informational)
    {
        if (string.IsNullOrEmpty(informational)) return ("unknown", null);
        int plus = informational.IndexOf('+');
        return plus < 0 ? (informational, null) : (informational[..plus], informational[(plus + 1)..]);
    }

    private static string? BuildMetadata(string key)
    {
        foreach (var m in typeof(VersionCommand).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>())
            if (m.Key == key && !string.IsNullOrEmpty(m.Value)) return m.Value;
        return null;
    }

    /// <summary>
    /// The ISAs a kernel may branch on. Under Native AOT, an ISA above the build's baseline reads as supported only
    /// where ILC emitted a run-time check for it, so this is what the compiled code will actually use.
    /// </summary>
    public static List<string> DetectedInstructionSets()
    {
        var s = new List<string>();
        void Add(bool supported, string name) { if (supported) s.Add(name); }
        Add(X86.Sse42.IsSupported, "Sse42");
        Add(X86.Popcnt.IsSupported, "Popcnt");
        Add(X86.Avx.IsSupported, "Avx");
        Add(X86.Avx2.IsSupported, "Avx2");
        Add(X86.Fma.IsSupported, "Fma");
        Add(X86.Bmi2.IsSupported, "Bmi2");
        Add(X86.AvxVnni.IsSupported, "AvxVnni");
        Add(X86.Avx512F.IsSupported, "Avx512F");
        Add(X86.Avx512BW.IsSupported, "Avx512BW");
        Add(X86.Avx512Vbmi.IsSupported, "Avx512Vbmi");
        Add(X86.Avx10v1.IsSupported, "Avx10v1");
        Add(Arm.AdvSimd.IsSupported, "AdvSimd");
        Add(Arm.AdvSimd.Arm64.IsSupported, "AdvSimd.Arm64");
        Add(Arm.Dp.IsSupported, "Dp");
        Add(Arm.Rdm.IsSupported, "Rdm");
        Add(Arm.Crc32.IsSupported, "Crc32");
        Add(Arm.Aes.IsSupported, "Aes");
        Add(Arm.Sha256.IsSupported, "Sha256");
        if (s.Count == 0) s.Add("(none beyond scalar)");
        return s;
    }

    private static string AcceleratedWidths()
    {
        var w = new List<string>();
        if (Vector128.IsHardwareAccelerated) w.Add("128");
        if (Vector256.IsHardwareAccelerated) w.Add("256");
        if (Vector512.IsHardwareAccelerated) w.Add("512");
        return w.Count == 0 ? "none" : string.Join('/', w) + " bits";
    }
}
