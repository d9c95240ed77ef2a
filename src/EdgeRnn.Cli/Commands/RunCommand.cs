namespace EdgeRnn.Cli.Commands;

// Scaffold: replaced by the issue that builds this command.
public static class RunCommand
{
    public static int Run(string[] args)
    {
        Console.Error.WriteLine("this command is not built yet");
        return 3;
    }
}
