#:package System.Management.Automation
#:property PublishAot=false
// Runs a PowerShell script where pwsh is not installed, through the same engine hosted from NuGet:
//   dotnet run build/run-ps1.cs -- ./publish.ps1 -Runtime linux-x64 -InstructionSet x86-64-v3
// Only the core engine is loaded (no Utility/Management modules), as in the tests' runspace. PublishAot=false:
// the engine compiles script blocks at run time, which a host built with the AOT feature switches cannot do.
using System.Management.Automation;
using System.Management.Automation.Runspaces;

if (args.Length == 0)
{
    Console.Error.WriteLine("usage: dotnet run build/run-ps1.cs -- SCRIPT.ps1 [-Name value | -Switch]...");
    return 2;
}
using var runspace = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
runspace.Open();
using var ps = PowerShell.Create(runspace);
ps.AddCommand(Path.GetFullPath(args[0]));
for (int i = 1; i < args.Length; i++)
{
    string name = args[i].TrimStart('-');
    if (i + 1 < args.Length && !args[i + 1].StartsWith('-')) ps.AddParameter(name, args[++i]);
    else ps.AddParameter(name);
}
try
{
    foreach (var o in ps.Invoke()) Console.WriteLine(o);
}
catch (RuntimeException e)
{
    Console.Error.WriteLine(e.Message);
    return 1;
}
foreach (var e in ps.Streams.Error) Console.Error.WriteLine(e);
return ps.HadErrors ? 1 : 0;
