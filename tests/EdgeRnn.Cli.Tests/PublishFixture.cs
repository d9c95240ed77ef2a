namespace EdgeRnn.Cli.Tests;

/// <summary>
/// Publishes once per flavour through publish.ps1 in a hosted runspace, into the repository's artifacts/ (where
/// tests/publish-check.sh then finds the binaries for the qemu checks). Minutes on two cores, so once per test run.
/// </summary>
public sealed class PublishFixture
{
    public static readonly string[] Flavours = ["linux-x64", "linux-x64-baseline", "linux-arm64"];

    public string Artifacts { get; } = Path.Combine(Repo.Root, "artifacts");
    public string Version { get; }
    public IReadOnlyDictionary<string, HostedPowerShell.Result> Results { get; }

    public PublishFixture()
    {
        Version = typeof(Commands.VersionCommand).Assembly.GetName().Version is { } v ? $"{v.Major}.{v.Minor}.{v.Build}" : "unknown";
        var results = new Dictionary<string, HostedPowerShell.Result>();
        string script = Path.Combine(Repo.Root, "publish.ps1");
        foreach (string flavour in Flavours)
        {
            var parameters = new Dictionary<string, object>
            {
                ["Runtime"] = flavour.EndsWith("-baseline", StringComparison.Ordinal) ? flavour[..^"-baseline".Length] : flavour,
                ["Output"] = Artifacts,
            };
            if (flavour.EndsWith("-baseline", StringComparison.Ordinal)) parameters["InstructionSet"] = "baseline";
            results[flavour] = HostedPowerShell.RunScript(script, parameters);
        }
        Results = results;
    }

    /// <summary>Fails the calling test with the script's own error when that flavour did not publish.</summary>
    public void RequirePublished(string flavour)
    {
        var r = Results[flavour];
        Assert.True(r.Succeeded, $"publish.ps1 for {flavour} failed:\n{r.Failure}");
    }

    public string Stage(string flavour) => Path.Combine(Artifacts, flavour);
    public string Archive(string flavour) => Path.Combine(Artifacts, $"edgernn-{Version}-{flavour}.tar.gz");
}

[CollectionDefinition("publish")]
public sealed class PublishCollection : ICollectionFixture<PublishFixture>;
