using System.IO.Ports;
using EdgeRnn.Ingest;
using EdgeRnn.Ingest.Bridge;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn simulate --data D.csv --to serial:/dev/pts/N[@BAUD] [--rate HZ] [--loop] [--columns a,b] [--device-id ID]
/// Plays a CSV as a microcontroller running firmware-bridge would (hello, data frames, heartbeats). --to file:PATH (or
/// file:- for stdout) writes the raw wire bytes instead, for captures. Try it against `edgernn run` through a socat pty pair:
///   socat -d -d pty,raw,echo=0,link=/tmp/dev-a pty,raw,echo=0,link=/tmp/dev-b
///   edgernn simulate --data models/data/ett/ETTh1.csv --to serial:/tmp/dev-a --rate 50 --loop
/// </summary>
public static class SimulateCommand
{
    public static int Run(string[] args)
    {
        var a = new Args(args, ["loop"]);
        string data = a.Require("input");
        string to = a.Require("to");
        double rate = a.GetDouble("rate", 10);
        bool loop = a.GetSwitch("loop");
        string? columns = a.Get("columns");
        string deviceId = a.Get("device-id") ?? "edgernn-sim";
        a.RejectUnknown();
        if (!(rate > 0 && rate <= 10_000)) throw new UsageException($"--rate must be in (0, 10000] Hz, got {rate}");
        var options = new SimulatorOptions(data)
        {
            RateHz = rate,
            Loop = loop,
            DeviceId = deviceId,
            Columns = columns?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
        };

        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
        long frames;
        if (to.StartsWith("file:", StringComparison.Ordinal))
        {
            string path = to[5..];
            using Stream s = path == "-" ? Console.OpenStandardOutput() : File.Create(path);
            frames = DeviceSimulator.Run(s, options, cts.Token);
        }
        else
        {
            SourceSpec spec;
            try { spec = SourceSpec.Parse(to); }
            catch (FormatException e) { throw new UsageException("--to: " + e.Message); }
            if (spec.Kind != SourceKind.Serial) throw new UsageException($"--to must be serial:PATH[@BAUD] or file:PATH, got '{to}'");
            using SerialPort port = SerialSource.Open(SerialSettings.FromSpec(spec), out string resolved);
            Console.Error.WriteLine($"simulate: playing {data} to {resolved} at {rate} Hz{(loop ? ", looping" : "")} (Ctrl+C stops)");
            try { frames = DeviceSimulator.Run(port.BaseStream, options, cts.Token); }
            catch (TimeoutException) { throw new IOException($"{spec.Target}: write timed out (nothing reading the other end?)"); }
        }
        Console.Error.WriteLine($"simulate: {frames} data frames sent");
        return 0;
    }
}
