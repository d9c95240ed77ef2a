namespace EdgeRnn.Forecasting.Data;

/// <summary>Sampling period, seasonal period and z-score fit: the pieces every protocol shares (missing values: <see cref="EdgeRnn.Ingest.MissingValues"/>).</summary>
public static class SeriesPrep
{
    /// <summary>The median spacing of the timestamps (robust to the odd gap), or null without a time column.</summary>
    public static TimeSpan? DetectSamplePeriod(DateTime[]? times)
    {
        if (times is null || times.Length < 2) return null;
        var d = new long[times.Length - 1];
        for (int i = 1; i < times.Length; i++) d[i - 1] = (times[i] - times[i - 1]).Ticks;
        Array.Sort(d);
        long med = d[d.Length / 2];
        return med > 0 ? TimeSpan.FromTicks(med) : null;
    }

    /// <summary>Rows where the spacing exceeds 1.5 sample periods (reported, not resampled: the models see rows, not clock time).</summary>
    public static int CountGaps(DateTime[]? times, TimeSpan? period)
    {
        if (times is null || period is null) return 0;
        int gaps = 0;
        long limit = period.Value.Ticks * 3 / 2;
        for (int i = 1; i < times.Length; i++) if ((times[i] - times[i - 1]).Ticks > limit) gaps++;
        return gaps;
    }

    /// <summary>
    /// The seasonal period in samples: one day of samples when the sampling period divides a day and the training part
    /// holds at least three days; otherwise the lag (2..maxLag) with the highest autocorrelation peak of the differenced series.
    /// </summary>
    public static int DetectSeason(ReadOnlySpan<float> train, TimeSpan? samplePeriod, int maxLag = 400)
    {
        if (samplePeriod is { } p && p > TimeSpan.Zero)
        {
            long perDay = TimeSpan.TicksPerDay / p.Ticks;
            if (perDay >= 2 && perDay * p.Ticks == TimeSpan.TicksPerDay && train.Length >= 3 * perDay) return (int)perDay;
        }
        int n = train.Length;
        if (n < 8) return 1;
        var dx = new double[n - 1];
        for (int i = 1; i < n; i++) dx[i - 1] = float.IsFinite(train[i]) && float.IsFinite(train[i - 1]) ? train[i] - train[i - 1] : 0;
        double mean = dx.Average();
        for (int i = 0; i < dx.Length; i++) dx[i] -= mean;
        double var0 = dx.Sum(v => v * v);
        if (var0 <= 0) return 1;
        int best = 1; double bestAcf = 0.1; // demand a real peak
        maxLag = Math.Min(maxLag, dx.Length / 3);
        double Acf(int lag) { double s = 0; for (int i = lag; i < dx.Length; i++) s += dx[i] * dx[i - lag]; return s / var0; }
        double prev = Acf(1), cur = Acf(2);
        for (int lag = 2; lag < maxLag; lag++)
        {
            double next = Acf(lag + 1);
            if (cur > prev && cur >= next && cur > bestAcf) { bestAcf = cur; best = lag; }
            prev = cur; cur = next;
        }
        return best;
    }

    /// <summary>Mean and standard deviation of the finite values in x[0..count) (population std; 1 when constant).</summary>
    public static (float Mean, float Std) FitZScore(ReadOnlySpan<float> x)
    {
        double s = 0, s2 = 0; long n = 0;
        foreach (float v in x) if (float.IsFinite(v)) { s += v; n++; }
        if (n == 0) throw new InvalidDataException("no finite values to fit the z-score on");
        double m = s / n;
        foreach (float v in x) if (float.IsFinite(v)) s2 += (v - m) * (v - m);
        double sd = Math.Sqrt(s2 / n);
        // sklearn StandardScaler (what the LTSF code uses) divides by the population std.
        return ((float)m, sd > 1e-12 ? (float)sd : 1f);
    }
}
