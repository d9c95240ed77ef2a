using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Text;

namespace EdgeRnn.Cli.Tests;

/// <summary>
/// Runs a .ps1 file in a runspace hosted through the System.Management.Automation package: the same engine as pwsh,
/// but only its core commands (no Utility/Management modules), which is what publish.ps1 is written against.
/// </summary>
public static class HostedPowerShell
{
    public sealed record Result(bool Succeeded, string Failure, IReadOnlyList<string> Output)
    {
        public override string ToString() => Succeeded ? "succeeded" : Failure;
    }

    public static Result RunScript(string scriptPath, IReadOnlyDictionary<string, object> parameters)
    {
        // CreateDefault2: the engine and Microsoft.PowerShell.Core only, as loaded by a bare hosted runspace.
        var iss = InitialSessionState.CreateDefault2();
        using var runspace = RunspaceFactory.CreateRunspace(iss);
        runspace.Open();
        using var ps = PowerShell.Create(runspace);
        ps.AddCommand(scriptPath);
        foreach (var (k, v) in parameters) ps.AddParameter(k, v);

        var output = new List<string>();
        var failure = new StringBuilder();
        try
        {
            foreach (var o in ps.Invoke()) output.Add(o?.ToString() ?? "");
        }
        catch (RuntimeException e)
        {
            failure.AppendLine(e.Message);
            if (e.ErrorRecord?.ScriptStackTrace is { } st) failure.AppendLine(st);
        }
        foreach (var err in ps.Streams.Error)
        {
            failure.AppendLine(err.ToString());
            if (err.ScriptStackTrace is { } st) failure.AppendLine(st);
        }
        return new Result(failure.Length == 0, failure.ToString(), output);
    }
}
