using EdgeRnn.Forecasting.Data;

namespace EdgeRnn.Forecasting.Tests;

internal static class TestData
{
    private static string? _root;

    /// <summary>The repository root (holds EdgeRnn.sln): tests read the bundled data in models/data.</summary>
    public static string Root
    {
        get
        {
            if (_root is not null) return _root;
            var d = new DirectoryInfo(AppContext.BaseDirectory);
            while (d is not null && !File.Exists(Path.Combine(d.FullName, "EdgeRnn.sln"))) d = d.Parent;
            return _root = d?.FullName ?? throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
        }
    }

    public static string Ett => Path.Combine(Root, "models", "data", "ett", "ETTh1.csv");
    public static string MachineTemperature => Path.Combine(Root, "models", "data", "nab", "machine_temperature_system_failure.csv");

    /// <summary>A table from generated columns with hourly timestamps.</summary>
    public static SeriesTable Table(params (string Name, float[] Values)[] cols)
    {
        int n = cols[0].Values.Length;
        var times = Enumerable.Range(0, n).Select(i => new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddHours(i)).ToArray();
        return new SeriesTable("synthetic.csv", "date", times, cols.Select(c => c.Name).ToArray(), cols.Select(c => c.Values).ToArray());
    }

    /// <summary>A daily cycle plus noise; after <paramref name="driftFrom"/> the cycle's shape changes (a drift no level fix can undo).</summary>
    public static float[] Drifting(int n, int driftFrom, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int t = 0; t < n; t++)
        {
            double phase = 2 * Math.PI * t / 24;
            double shape = t < driftFrom ? Math.Sin(phase) : 0.4 * Math.Sin(phase) + 0.9 * Math.Sin(2 * phase + 1);
            x[t] = (float)(10 + 3 * shape + 0.2 * (rng.NextDouble() - 0.5));
        }
        return x;
    }
}
