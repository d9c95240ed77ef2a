namespace EdgeRnn.Forecasting.Experts;

/// <summary>
/// The simple experts that run beside the network, on the normalized (training z-score) scale of each target:
/// repeat-last-value, seasonal naive (the latest same-phase value) and an <see cref="OnlineLinear"/> per target.
/// Keeps a ring of the filled target history and which values were observed. Push one row, then Forecast.
/// Allocation-free. The network experts (the skip path, the frozen and the fine-tuned network) are added by the caller.
/// </summary>
public sealed class ExpertPanel
{
    /// <summary>Experts this panel computes, in the order of <see cref="Forecast"/>'s rows.</summary>
    public static readonly string[] Names = ["naive", "seasonal_naive", "online_linear"];

    private readonly int _c, _h, _season, _l, _cap;
    private readonly float[] _ring;    // [cap, C] filled normalized values
    private readonly byte[] _seen;     // [cap, C] 1 = observed, 0 = filled
    private readonly float[] _last;    // [C]
    private readonly OnlineLinear[] _linear;
    private readonly float[] _window, _future, _out;
    private long _count;

    /// <param name="targets">C</param>
    /// <param name="horizon">H</param>
    /// <param name="season">seasonal period in rows (≤ 1: the seasonal expert repeats the last value)</param>
    /// <param name="lookback">window of the online linear model</param>
    /// <param name="memory">forgetting time constant of the online linear model (rows)</param>
    public ExpertPanel(int targets, int horizon, int season, int lookback = 48, double memory = 2000)
    {
        _c = targets; _h = horizon; _season = Math.Max(season, 1); _l = Math.Max(lookback, 2);
        int seasonBack = _season * ((_h + _season - 1) / _season);
        _cap = Math.Max(seasonBack, _l + _h) + 1;
        _ring = new float[_cap * _c]; _seen = new byte[_cap * _c]; _last = new float[_c];
        _linear = new OnlineLinear[_c];
        for (int c = 0; c < _c; c++) _linear[c] = new OnlineLinear(_l, _h, memory);
        _window = new float[_l]; _future = new float[_h]; _out = new float[_h];
    }

    public int Season => _season;
    public int Count => Names.Length;

    /// <summary>Appends row t (truth: [C] normalized, NaN = missing → last value carried forward), then learns from the
    /// window that ended H rows ago, whose future is now complete.</summary>
    public void Push(ReadOnlySpan<float> truth)
    {
        int slot = (int)(_count % _cap);
        for (int c = 0; c < _c; c++)
        {
            float v = truth[c];
            bool ok = float.IsFinite(v);
            if (ok) _last[c] = v;
            _ring[slot * _c + c] = ok ? v : _last[c];
            _seen[slot * _c + c] = (byte)(ok ? 1 : 0);
        }
        _count++;
        long end = _count - 1 - _h; // the window ending at row `end` now has all H futures observed (or not)
        if (end - _l + 1 < 0) return;
        for (int c = 0; c < _c; c++)
        {
            for (int j = 0; j < _l; j++) _window[j] = At(end - _l + 1 + j, c);
            for (int k = 0; k < _h; k++)
            {
                long r = end + 1 + k;
                _future[k] = _seen[(int)(r % _cap) * _c + c] != 0 ? At(r, c) : float.NaN;
            }
            _linear[c].Update(_window, _future);
        }
    }

    private float At(long row, int c) => _ring[(int)(row % _cap) * _c + c];

    /// <summary>experts: [Count, H·C] (expert-major, then step-major [H, C]) normalized forecasts made at the last pushed row.</summary>
    public void Forecast(Span<float> experts)
    {
        int hc = _h * _c;
        long t = _count - 1;
        for (int c = 0; c < _c; c++)
        {
            float now = t >= 0 ? At(t, c) : 0f;
            for (int k = 0; k < _h; k++)
            {
                experts[k * _c + c] = now;
                long back = _season * ((k + _season) / (long)_season); // the latest same-phase row at or before t
                long r = t + 1 + k - back;
                experts[hc + k * _c + c] = r >= 0 && r > t - _cap ? At(r, c) : now;
            }
            for (int j = 0; j < _l; j++) _window[j] = At(Math.Max(t - _l + 1 + j, 0), c);
            _linear[c].Predict(_window, _out);
            for (int k = 0; k < _h; k++) experts[2 * hc + k * _c + c] = t >= 0 ? _out[k] : 0f;
        }
    }

    public void Write(BinaryWriter w)
    {
        w.Write(_count);
        StateIO.Write(w, _ring); StateIO.Write(w, _seen); StateIO.Write(w, _last);
        foreach (var m in _linear) { StateIO.Write(w, m.StateP); StateIO.Write(w, m.StateW); }
    }

    public void Read(BinaryReader r)
    {
        long count = r.ReadInt64();
        if (count < 0) throw new InvalidDataException("checkpoint expert row count is negative");
        _count = count;
        StateIO.Read(r, _ring, "expert history"); StateIO.Read(r, _seen, "expert history mask"); StateIO.Read(r, _last, "expert last values");
        foreach (var m in _linear) { StateIO.Read(r, m.StateP, "online linear P"); StateIO.Read(r, m.StateW, "online linear W"); }
    }
}

/// <summary>Length-prefixed arrays in checkpoints; a length mismatch is a clear error, never a silent misread.</summary>
internal static class StateIO
{
    public static void Write(BinaryWriter w, float[] a) { w.Write(a.Length); foreach (float v in a) w.Write(v); }
    public static void Write(BinaryWriter w, double[] a) { w.Write(a.Length); foreach (double v in a) w.Write(v); }
    public static void Write(BinaryWriter w, byte[] a) { w.Write(a.Length); w.Write(a); }
    public static void Write(BinaryWriter w, long[] a) { w.Write(a.Length); foreach (long v in a) w.Write(v); }

    private static void Len(BinaryReader r, int want, string what)
    {
        int n = r.ReadInt32();
        if (n != want) throw new InvalidDataException($"checkpoint {what}: {n} values, this model needs {want}");
    }

    public static void Read(BinaryReader r, float[] a, string what) { Len(r, a.Length, what); for (int i = 0; i < a.Length; i++) a[i] = r.ReadSingle(); }
    public static void Read(BinaryReader r, double[] a, string what)
    {
        Len(r, a.Length, what);
        for (int i = 0; i < a.Length; i++)
        {
            a[i] = r.ReadDouble();
            if (!double.IsFinite(a[i])) throw new InvalidDataException($"checkpoint {what} holds a non-finite value");
        }
    }
    public static void Read(BinaryReader r, byte[] a, string what) { Len(r, a.Length, what); if (r.Read(a, 0, a.Length) != a.Length) throw new EndOfStreamException(what); }
    public static void Read(BinaryReader r, long[] a, string what) { Len(r, a.Length, what); for (int i = 0; i < a.Length; i++) a[i] = r.ReadInt64(); }
}
