using EdgeRnn.Daemon;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn demo [--duration SECONDS] [--rate HZ]: in-process MQTT broker, simulated sensor, the daemon pipeline with a bundled
/// model and online fine-tuning, and a subscriber printing each forecast against the truth. Runs until Ctrl+C by default.
/// </summary>
public static class DemoCommand
{
    public static int Run(string[] args)
    {
        var a = new Args(args, []);
        double duration = a.GetDouble("duration", 0);
        double rate = a.GetDouble("rate", 5);
        a.RejectUnknown();
        if (a.Positional.Count > 0) throw new UsageException($"unexpected argument '{a.Positional[0]}'");
        if (rate is <= 0 or > 10_000) throw new UsageException("--rate must be in (0, 10000] samples per second");
        if (duration < 0) throw new UsageException("--duration must be positive (seconds)");
        return Demo.RunAsync(duration > 0 ? duration : null, rate, Console.Out, CancellationToken.None).GetAwaiter().GetResult();
    }
}
