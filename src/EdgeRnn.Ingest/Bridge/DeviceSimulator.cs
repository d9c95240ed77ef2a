using System.Diagnostics;

namespace EdgeRnn.Ingest.Bridge;

public sealed record SimulatorOptions(string CsvPath)
{
    public IReadOnlyList<string>? Columns { get; init; }
    public double RateHz { get; init; } = 10;
    public bool Loop { get; init; }
    public string DeviceId { get; init; } = "edgernn-sim";
    /// <summary>Stop after this many data frames (null: at the end of the file, or never with Loop).</summary>
    public long? MaxFrames { get; init; }
}

/// <summary>
/// Plays a CSV as a microcontroller running firmware-bridge would: a lone 0x00, a hello frame (and again every 5 s), data
/// frames at the given rate with device time in ms since start, and heartbeats in any second without a data frame.
/// Frames that fall due together (high rates) go out in one write.
/// </summary>
public static class DeviceSimulator
{
    public const long HelloEveryMs = 5000, HeartbeatEveryMs = 1000;

    /// <returns>the number of data frames written</returns>
    public static long Run(Stream output, SimulatorOptions o, CancellationToken ct)
    {
        if (!(o.RateHz > 0 && double.IsFinite(o.RateHz))) throw new ArgumentException($"rate must be a positive number of Hz, got {o.RateHz}");
        var enc = new FrameEncoder();
        byte[] buf = new byte[64 * 1024];
        CsvReader reader = Open(o);
        var names = reader.Channels;
        if (names.Count > Protocol.MaxChannels) throw new ArgumentException($"{o.CsvPath}: {names.Count} columns, a frame carries at most {Protocol.MaxChannels} (choose some with --columns)");
        var units = names.Select(_ => "").ToArray();
        float[] values = new float[names.Count];
        uint periodUs = (uint)Math.Round(1e6 / o.RateHz);
        var clock = Stopwatch.StartNew();
        long sent = 0, lastHello = 0, lastAny = 0;
        int at = 0;
        buf[at++] = 0;
        at += enc.Hello(0, o.DeviceId, periodUs, names, units, buf.AsSpan(at));
        try
        {
            while (!ct.IsCancellationRequested && (o.MaxFrames is not long max || sent < max))
            {
                long now = clock.ElapsedMilliseconds;
                if (now - lastHello >= HelloEveryMs)
                {
                    at += enc.Hello((uint)now, o.DeviceId, periodUs, names, units, buf.AsSpan(at));
                    lastHello = now;
                }
                long due = (long)(now * o.RateHz / 1000.0) + 1; // frame k is due at k / rate seconds
                bool ended = false;
                while (sent < due && at < buf.Length - Protocol.MaxWire && (o.MaxFrames is not long m || sent < m))
                {
                    if (!reader.Read(out _, values))
                    {
                        if (!o.Loop) { ended = true; break; }
                        reader.Dispose();
                        reader = Open(o);
                        if (!reader.Read(out _, values)) { ended = true; break; }
                    }
                    at += enc.DataF32((uint)(sent * 1000.0 / o.RateHz), values, buf.AsSpan(at));
                    sent++;
                    lastAny = now;
                }
                if (now - lastAny >= HeartbeatEveryMs)
                {
                    at += enc.Heartbeat((uint)now, buf.AsSpan(at));
                    lastAny = now;
                }
                if (at > 0) { output.Write(buf, 0, at); output.Flush(); at = 0; }
                if (ended) break;
                long next = (long)Math.Ceiling(sent * 1000.0 / o.RateHz);
                long sleep = Math.Clamp(next - clock.ElapsedMilliseconds, 0, 100);
                if (sleep > 0) ct.WaitHandle.WaitOne((int)sleep);
            }
        }
        finally { reader.Dispose(); }
        return sent;
    }

    private static CsvReader Open(SimulatorOptions o)
    {
        if (!File.Exists(o.CsvPath)) throw new FileNotFoundException($"CSV file '{o.CsvPath}' does not exist", o.CsvPath);
        return new CsvReader(new StreamReader(o.CsvPath), o.CsvPath, o.Columns);
    }
}
