using EdgeRnn.Daemon;
using EdgeRnn.Forecasting;
using Microsoft.Extensions.Hosting;

namespace EdgeRnn.Cli.Commands;

/// <summary>
/// edgernn run [--config edgernn.json] [--validate] [--source S] [--model M] [--precision int8|float32] [--mqtt URL] ...
/// A network-only model file is named by --targets A,B [--features A,B,C], as for `forecast`.
/// Every setting is also a JSON key and an EDGERNN_* environment variable (see deploy/edgernn.json and the README).
/// </summary>
public static class RunCommand
{
    public static int Run(string[] args)
    {
        DaemonSettings settings;
        bool validateOnly;
        try
        {
            var (options, v) = DaemonConfig.Load(args);
            validateOnly = v;
            settings = DaemonConfig.Resolve(options);
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"edgernn run: configuration error:{Environment.NewLine}  {e.Message.Replace(Environment.NewLine, Environment.NewLine + "  ")}");
            return 2;
        }

        if (validateOnly)
        {
            int bad = 0;
            foreach (var s in settings.Streams)
            {
                try
                {
                    Sources.Validate(s.Source);
                    using var f = s.LoadForecaster(fineTune: false);
                    if (TopicNames.CheckTargets(settings.Gateway, s.Name, f.Targets) is [var first, ..]) throw new InvalidDataException(first);
                    Console.WriteLine($"stream {s.Name}: {s.Source} -> {f.ModelName} {f.ModelVersion} ({s.Precision}, inputs [{string.Join(",", f.InputChannels)}], horizon {f.Horizon}, fine-tune {(!s.FineTune ? "off" : f.Model.IsNetworkOnly ? "off: a network-only file is served as is" : "on")})");
                    Console.WriteLine($"stream {s.Name}: reads {Sources.Check(s, f.InputChannels)}");
                    if (settings.Anomaly is { } an)
                        Console.WriteLine(StreamAnomaly.Create(s.Name, $"{settings.TopicPrefix}/{settings.Gateway}/{s.Name}/anomaly", f.InputChannels, f.Targets, s.SamplePeriod ?? f.SamplePeriod, an) is { } det
                            ? $"stream {s.Name}: anomaly score of [{string.Join(",", det.Targets)}] on {det.Topic}, alert at >= {an.Threshold.ToString(System.Globalization.CultureInfo.InvariantCulture)} (warm-up {det.DetectorOptions.WarmupRows} samples, season {det.DetectorOptions.SeasonRows})"
                            : $"stream {s.Name}: no anomaly score (none of the model's targets is one of its inputs)");
                }
                catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or FormatException or NotSupportedException or ConfigException)
                {
                    Console.Error.WriteLine($"stream {s.Name}: {e.Message}");
                    bad++;
                }
            }
            string mqtt = settings.Mqtt is { } m ? $"mqtt{(m.Tls ? "s" : "")}://{m.Host}:{m.Port} as {m.ClientId}" : "none";
            if (settings.Streams.Any(x => x.Source.StartsWith("mqtt:", StringComparison.Ordinal)))
                Console.WriteLine(settings.SourceMqtt is { } sm
                    ? $"mqtt: sources subscribe at mqtt{(sm.Tls ? "s" : "")}://{sm.Host}:{sm.Port}{(sm.Username is null ? "" : $" as user {sm.Username}")}{(ReferenceEquals(sm, settings.Mqtt) ? " (the publisher's broker and credentials)" : "")}"
                    : "mqtt: sources subscribe at mqtt://localhost:1883 (no Mqtt or SourceMqtt configured)");
            Console.WriteLine($"broker {mqtt}; topics {settings.TopicPrefix}/{settings.Gateway}/<stream>/forecast; state {settings.StateDir}");
            Console.WriteLine(bad == 0 ? "configuration OK" : $"configuration has {bad} problem(s)");
            return bad == 0 ? 0 : 1;
        }

        var channels = new Dictionary<string, IReadOnlyList<string>>();
        var batches = new SharedModelBatches(settings.Streams); // int8 streams of one model file, fine-tuning off: stepped together
        var factories = new DaemonFactories
        {
            Batches = batches,
            CreateForecaster = s =>
            {
                var f = batches.Load(s);
                lock (channels) channels[s.Name] = f.InputChannels;
                return f;
            },
            CreateSource = s =>
            {
                IReadOnlyList<string>? ch;
                lock (channels) ch = channels.GetValueOrDefault(s.Name);
                return Sources.Create(s, settings.SourceMqtt, ch, msg => Console.Error.WriteLine($"stream {s.Name}: {msg}"));
            },
        };
        using var host = DaemonHost.Build(settings, factories);
        host.Run();
        return Environment.ExitCode;
    }
}
