using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace EdgeRnn.Cli.Tests;

/// <summary>
/// What publish.ps1 (run in a hosted runspace by <see cref="PublishFixture"/>) ships: read back from the archives
/// with System.Formats.Tar, and the binaries run (x64 natively, arm64 under qemu-aarch64 as a Pi 4 and a Pi 5).
/// </summary>
[Collection("publish")]
public sealed partial class PublishTests(PublishFixture fx)
{
    private const ushort EmX86_64 = 0x3E, EmAarch64 = 0xB7;
    private const long MaxExecutableBytes = 12_000_000;   // 12 MB, decimal: the budget for the Pi images
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(2);

    public static TheoryData<string, ushort> FlavoursAndMachines => new()
    {
        { "linux-x64", EmX86_64 }, { "linux-x64-baseline", EmX86_64 }, { "linux-arm64", EmAarch64 },
    };

    [Theory]
    [MemberData(nameof(FlavoursAndMachines))]
    public void Archive_holds_exactly_the_executable_models_and_deploy_files(string flavour, ushort machine)
    {
        fx.RequirePublished(flavour);
        string top = $"edgernn-{fx.Version}-{flavour}/";
        var entries = ReadArchive(fx.Archive(flavour));

        // One file to deploy: System.IO.Ports' native part is linked in (native/serial-ports), no .so travels with it.
        var expected = new SortedSet<string>(StringComparer.Ordinal) { top, top + "edgernn" };
        var repoModels = RepoModelFiles();
        if (repoModels.Count > 0) expected.Add(top + "models/");
        foreach (string m in repoModels) expected.Add(top + "models/" + Path.GetFileName(m));
        foreach (string d in new[] { "edgernn.service", "edgernn.json" })
            if (File.Exists(Path.Combine(Repo.Root, "deploy", d))) expected.Add(top + d);
        Assert.Equal(expected, new SortedSet<string>(entries.Keys, StringComparer.Ordinal));

        var exe = entries[top + "edgernn"];
        AssertElf(exe.Data, machine, elfType: 3 /* ET_DYN: PIE */, what: "edgernn");
        Assert.True(exe.Mode.HasFlag(UnixFileMode.UserExecute), $"edgernn mode {exe.Mode}");
        Assert.True(exe.Data.Length < MaxExecutableBytes, $"edgernn is {exe.Data.Length} bytes, over the 12,000,000-byte budget");
        Assert.Equal(File.ReadAllBytes(Path.Combine(fx.Stage(flavour), "edgernn")), exe.Data);

        Assert.Empty(Directory.GetFiles(fx.Stage(flavour), "*.so*"));

        foreach (string m in repoModels)
            Assert.Equal(File.ReadAllBytes(m), entries[top + "models/" + Path.GetFileName(m)].Data);
        foreach (string d in new[] { "edgernn.service", "edgernn.json" })
            if (File.Exists(Path.Combine(Repo.Root, "deploy", d)))
                Assert.Equal(File.ReadAllBytes(Path.Combine(Repo.Root, "deploy", d)), entries[top + d].Data);

        // Symbols stay beside the executable, out of the archive, and belong to it (same machine, same build id).
        string dbg = Path.Combine(fx.Stage(flavour), "edgernn.dbg");
        Assert.True(File.Exists(dbg), $"{dbg} missing");
        AssertElf(File.ReadAllBytes(dbg), machine, elfType: 3, what: "edgernn.dbg");
    }

    [Theory]
    [MemberData(nameof(FlavoursAndMachines))]
    public void Sha256_file_matches_the_archive_in_sha256sum_format(string flavour, ushort machine)
    {
        _ = machine;
        fx.RequirePublished(flavour);
        string archive = fx.Archive(flavour);
        string line = File.ReadAllText(archive + ".sha256");
        var m = Sha256Line().Match(line);
        Assert.True(m.Success, $"not `sha256sum -c` format: '{line}'");
        Assert.Equal(Path.GetFileName(archive), m.Groups[2].Value);
        using var s = File.OpenRead(archive);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(s)), m.Groups[1].Value);
    }

    [Theory]
    [MemberData(nameof(FlavoursAndMachines))]
    public void Publish_log_has_no_trimming_or_aot_warnings(string flavour, ushort machine)
    {
        _ = machine;
        fx.RequirePublished(flavour);
        string log = Path.Combine(fx.Artifacts, "logs", $"{flavour}.publish.log");
        string text = File.ReadAllText(log);
        Assert.Contains("Generating native code", text);   // ILC ran, so its warnings would be here
        Assert.DoesNotMatch(@"\bIL[23]\d{3}\b", text);
    }

    [Fact]
    public void X64_version_names_version_commit_runtime_and_the_isa_it_can_use()
    {
        fx.RequirePublished("linux-x64-baseline");
        string exe = Path.Combine(fx.Stage("linux-x64-baseline"), "edgernn");
        var r = Repo.Run(exe, ["version"], RunTimeout);
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Stdout.Split('\n');
        Assert.Equal($"edgernn {fx.Version}", lines[0]);
        Assert.Equal(GitHead(), Field(r.Stdout, "commit"));
        Assert.StartsWith("linux-x64 ", Field(r.Stdout, "runtime"));
        Assert.StartsWith("default ", Field(r.Stdout, "built for"));
        var isa = Field(r.Stdout, "instruction sets").Split(' ');
        Assert.Contains("Sse42", isa);
        // The portable build cannot use VEX code, whatever the CPU: the reason the default build is x86-64-v3.
        Assert.DoesNotContain("Avx2", isa);
        Assert.Equal(CpuHasAvx2(), r.Stdout.Contains("note: this CPU has AVX2", StringComparison.Ordinal));
        // ...but it does not fall back to scalar loops: SSSE3 is in its x86-64-v2 baseline.
        Assert.StartsWith("ssse3 ", Field(r.Stdout, "int8 kernel path"));

        var alias = Repo.Run(exe, ["--version"], RunTimeout);
        Assert.Equal(r.Stdout, alias.Stdout);
        Assert.Equal(2, Repo.Run(exe, ["version", "--bogus"], RunTimeout).ExitCode);
    }

    [Fact]
    public void Default_x64_build_is_x86_64_v3_uses_avx2_where_the_cpu_has_it_and_refuses_to_start_where_not()
    {
        fx.RequirePublished("linux-x64");
        var r = Repo.Run(Path.Combine(fx.Stage("linux-x64"), "edgernn"), ["version"], RunTimeout);
        if (CpuHasAvx2())
        {
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.StartsWith("x86-64-v3 ", Field(r.Stdout, "built for"));
            Assert.Contains("Avx2", Field(r.Stdout, "instruction sets").Split(' '));
        }
        else Assert.NotEqual(0, r.ExitCode);
    }

    [Theory]
    [InlineData("cortex-a72", false)]   // Raspberry Pi 4: Armv8.0, no dot product
    [InlineData("cortex-a76", true)]    // Raspberry Pi 5: Armv8.2 with SDOT/UDOT
    public void Arm64_binary_runs_under_qemu_and_sees_dot_product_only_on_a_pi5(string cpu, bool hasDp)
    {
        fx.RequirePublished("linux-arm64");
        var r = RunQemu(cpu, Path.Combine(fx.Stage("linux-arm64"), "edgernn"), "version");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal($"edgernn {fx.Version}", r.Stdout.Split('\n')[0]);
        Assert.StartsWith("linux-arm64 ", Field(r.Stdout, "runtime"));
        var isa = Field(r.Stdout, "instruction sets").Split(' ');
        Assert.Contains("AdvSimd", isa);
        Assert.Equal(hasDp, isa.Contains("Dp"));
    }

    [Fact]
    public void Instruction_set_level_applies_to_x64_only()
    {
        var r = HostedPowerShell.RunScript(Path.Combine(Repo.Root, "publish.ps1"),
            new Dictionary<string, object> { ["Runtime"] = "linux-arm64", ["InstructionSet"] = "x86-64-v3", ["Output"] = Path.GetTempPath() });
        Assert.False(r.Succeeded);
        Assert.Contains("applies to linux-x64 only", r.Failure);
    }

    // --- helpers -----------------------------------------------------------------------------------------------

    private sealed record Entry(UnixFileMode Mode, byte[] Data);

    private static Dictionary<string, Entry> ReadArchive(string path)
    {
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        using var file = File.OpenRead(path);
        using var gz = new GZipStream(file, CompressionMode.Decompress);
        using var tar = new TarReader(gz);
        while (tar.GetNextEntry() is { } e)
        {
            var data = new MemoryStream();
            e.DataStream?.CopyTo(data);
            Assert.True(entries.TryAdd(e.Name, new Entry(e.Mode, data.ToArray())), $"duplicate entry {e.Name}");
        }
        return entries;
    }

    private static void AssertElf(byte[] b, ushort machine, ushort elfType, string what)
    {
        Assert.True(b.Length > 64, $"{what}: {b.Length} bytes is no ELF file");
        Assert.True(b[0] == 0x7F && b[1] == (byte)'E' && b[2] == (byte)'L' && b[3] == (byte)'F', $"{what}: no ELF magic");
        Assert.True(b[4] == 2 && b[5] == 1, $"{what}: not 64-bit little-endian (class {b[4]}, data {b[5]})");
        Assert.Equal(elfType, BitConverter.ToUInt16(b, 16));
        Assert.Equal(machine, BitConverter.ToUInt16(b, 18));
    }

    private static List<string> RepoModelFiles()
    {
        string dir = Path.Combine(Repo.Root, "models");
        if (!Directory.Exists(dir)) return [];
        return [.. Directory.GetFiles(dir, "*.safetensors").Concat(Directory.GetFiles(dir, "*.md")).Order(StringComparer.Ordinal)];
    }

    private static string Field(string output, string label)
    {
        foreach (string line in output.Split('\n'))
            if (line.StartsWith(label + ":", StringComparison.Ordinal)) return line[(label.Length + 1)..].Trim();
        throw new Xunit.Sdk.XunitException($"no '{label}:' line in:\n{output}");
    }

    private static string GitHead()
    {
        var r = Repo.Run("git", ["-C", Repo.Root, "rev-parse", "HEAD"], TimeSpan.FromSeconds(30));
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout.Trim();
    }

    private static bool CpuHasAvx2() =>
        File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("flags", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains("avx2");

    internal static Repo.ProcessResult RunQemu(string cpu, string exe, params string[] args)
    {
        string? qemu = FindOnPath("qemu-aarch64");
        Assert.True(qemu is not null, "qemu-aarch64 not on PATH (apt-get install qemu-user; test.sh installs it)");
        return Repo.Run(qemu, ["-L", "/usr/aarch64-linux-gnu", "-cpu", cpu, exe, .. args], RunTimeout);
    }

    internal static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    [GeneratedRegex(@"^([0-9a-f]{64})  (\S+)\n$")]
    private static partial Regex Sha256Line();
}

/// <summary>Changes the process-wide PATH for a moment, so it runs alone (no other collection in parallel).</summary>
[CollectionDefinition("process environment", DisableParallelization = true)]
public sealed class ProcessEnvironmentCollection;

[Collection("process environment")]
public sealed class PublishPrerequisiteTests
{
    [Fact]
    public void Missing_toolchain_is_reported_with_the_apt_get_line()
    {
        // A PATH holding only dotnet: clang, ld.lld and llvm-objcopy are all missing.
        string bin = Directory.CreateTempSubdirectory("edgernn-path-").FullName;
        string? dotnet = PublishTests.FindOnPath("dotnet");
        Assert.NotNull(dotnet);
        File.CreateSymbolicLink(Path.Combine(bin, "dotnet"), dotnet);
        string? saved = Environment.GetEnvironmentVariable("PATH");
        HostedPowerShell.Result r;
        try
        {
            Environment.SetEnvironmentVariable("PATH", bin);
            r = HostedPowerShell.RunScript(Path.Combine(Repo.Root, "publish.ps1"),
                new Dictionary<string, object> { ["Runtime"] = "linux-x64", ["Output"] = Path.Combine(bin, "out") });
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", saved);
            Directory.Delete(bin, true);
        }
        Assert.False(r.Succeeded);
        Assert.Contains("sudo apt-get install -y clang lld llvm", r.Failure);
    }

}
