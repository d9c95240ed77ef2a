namespace EdgeRnn.Forecasting.Anomaly;

/// <summary>Settings of <see cref="AnomalyDetector"/>: one global configuration (tuned on NAB as a whole, never per file).</summary>
public sealed record AnomalyOptions
{
    /// <summary>Rows used only to learn (score 0): NAB's probationary period, or a fixed count on an endless stream.</summary>
    public int WarmupRows { get; init; } = 750;
    /// <summary>Seasonal period in rows for the seasonal-naive expert (0 = none).</summary>
    public int SeasonRows { get; init; }
    /// <summary>Weight of the seasonal surprise's log-likelihood against the forecast residuals' (0 = off).</summary>
    public double SeasonWeight { get; init; } = 0.7;
    /// <summary>Forecast steps whose residuals are scored.</summary>
    public int Horizon { get; init; } = 3;
    public int ArOrder { get; init; } = 6;
    public double RlsForgetting { get; init; } = 0.998;
    /// <summary>Rows of memory of the experts' error (blend weights) and of the residual scale.</summary>
    public double ExpertMemory { get; init; } = 100;
    public double ScaleMemory { get; init; } = 400;
    /// <summary>Residuals beyond this many scales count as this many.</summary>
    public double ZCap { get; init; } = 8;
    /// <summary>Weight of the expert disagreement and of the interval misses in the raw score.</summary>
    public double DisagreementWeight { get; init; } = 0;
    public double CoverageWeight { get; init; } = 0.5;
    /// <summary>Weight of the least surprised expert's residual against the blend's in the raw score.</summary>
    public double BestExpertWeight { get; init; }
    /// <summary>Conformal interval: the residual quantile (in scales) a sample must stay inside.</summary>
    public double IntervalZ { get; init; } = 2.0;
    /// <summary>Rows averaged in the likelihood's recent mean, and the two reference windows it is compared with.</summary>
    public int ShortAverage { get; init; } = 8;
    public int ReferenceShort { get; init; } = 500;
    public int ReferenceLong { get; init; } = 2000;
    /// <summary>Floor of the reference standard deviation (raw-score units), as HTM's 0.0003 variance floor.</summary>
    public double MinReferenceStd { get; init; } = 0.05;
    /// <summary>Decades of tail probability mapped onto the likelihood score's [0, 1] (HTM: 10), and its cap.</summary>
    public double TailDecades { get; init; } = 10;
    public double LikelihoodCap { get; init; } = 0.995;
    /// <summary>Value outside the seen range widened by this fraction of it: a spatial anomaly (as HTM's detector).</summary>
    public double SpatialTolerance { get; init; } = 0.01;
    public double SpatialScore { get; init; } = 0.995;
    /// <summary>Rows of history the seen range covers (0 = all rows since the start).</summary>
    public int SpatialWindow { get; init; } = 5000;
    /// <summary>A constant run longer than this factor times the longest seen (plus FlatMinRows) is a flat-line anomaly.</summary>
    public double FlatFactor { get; init; } = 2.0;
    public int FlatMinRows { get; init; } = 10;
    /// <summary>
    /// The range test applied to the step from the previous value (DiffScore, 0 = off) and to the mean of the last
    /// MeanRows values (MeanScore, 0 = off), each over SpatialWindow rows, with its own tolerance.
    /// </summary>
    public double DiffScore { get; init; }
    public double DiffTolerance { get; init; } = 0.01;
    public double MeanScore { get; init; } = 0.995;
    public int MeanRows { get; init; } = 12;
    public double MeanTolerance { get; init; } = 0.01;
    public double FlatScore { get; init; } = 0.995;
    /// <summary>
    /// Alert suppression: for this many rows after a reported score, a score is reported only when it beats the highest
    /// reported in that time by SuppressMargin (so one event raises one alert at any threshold); others are multiplied
    /// by SuppressedFactor.
    /// </summary>
    public int SuppressRows { get; init; } = 35;
    /// <summary>
    /// After a likelihood alert (the likelihood at its cap), the likelihood's score is multiplied by LikelihoodQuietFactor
    /// for LikelihoodQuietRows rows, while the value-novelty alerts (range, flat-line) still fire: the likelihood alerts
    /// of a noisy stream are rare events, the range alerts are precise.
    /// </summary>
    public int LikelihoodQuietRows { get; init; } = 800;
    public double LikelihoodQuietFactor { get; init; }
    /// <summary>Whether a range or flat-line alert also quiets the likelihood.</summary>
    public bool QuietAfterAny { get; init; } = true;
    /// <summary>
    /// Weight of the external forecaster's residual log-likelihood (the forecasts passed to Observe(value, forecast),
    /// e.g. a network's served forecast) against the experts' (0 = ignore them).
    /// </summary>
    public double ModelWeight { get; init; } = 1.0;
    public double SuppressMargin { get; init; } = 0.02;
    public double SuppressedFactor { get; init; }
}

/// <summary>
/// A streaming, causal anomaly score in [0, 1] per sample of one stream: the score of row t depends on rows 0..t only.
/// Raw surprise per row = standardized residuals of the experts' blended forecasts over horizon steps 1..H (each
/// forecast scored when its truth arrives), plus the experts' disagreement and misses of a conformal interval. Its
/// recent mean is compared with its own distribution over a short and a long reference window (an anomaly likelihood
/// in the spirit of HTM's), mapped to [0, 1] logarithmically; the raw value's novelty (outside the range seen, or a
/// flat-line longer than any seen) scores directly. Reported scores are sparse: one event, one peak.
/// Allocation-free per sample after construction.
/// </summary>
public sealed class AnomalyDetector
{
    private readonly AnomalyOptions _o;
    private readonly int _h;
    private readonly OnlineExperts _experts;
    private readonly double[] _perExpert, _blend;
    private readonly double[] _pending;        // [H slots, H] blended forecasts made at row r (slot r % H), normalized
    private readonly double[] _absRes;         // [H] forgotten mean |residual| per step
    private readonly double[] _pendingExperts; // [H slots, experts, H] every expert's forecasts made at row r
    private readonly double[] _absResExperts;  // [experts, H] forgotten mean |residual| per expert and step
    private readonly double[] _boot;           // first rows, kept until the normalization is fixed
    private readonly int _bootRows;
    private double _mu, _sigma;                // normalization fixed after the first _bootRows rows
    private readonly double _scaleDecay;
    private readonly Likelihood _forecastLikelihood, _seasonLikelihood, _modelLikelihood;
    private readonly double[] _modelPending;   // [H slots, H] external forecasts made at row r (slot r % H), normalized
    private bool _modelSeen;                   // an external forecast has been passed
    private readonly double[] _modelAbsRes;    // [H] forgotten mean |residual| of the external forecasts per step
    private readonly double[] _valueRing;      // last SeasonRows + 1 normalized values (seasonal residual)
    private double _seasonScale;
    private double _lastDisagreement;
    private long _row;
    private readonly RangeWindow _range;
    private double _prev = double.NaN;
    private int _run, _longestRun;
    private bool _flatFired;
    private double _holdLevel;
    private long _holdUntil;
    private long _likelyQuietUntil;
    private readonly RangeWindow? _diffRange, _meanRange;
    private readonly double[] _meanRing;
    private double _meanSum, _derived;

    public AnomalyDetector(AnomalyOptions options)
    {
        _o = options;
        _h = Math.Max(1, options.Horizon);
        _experts = new OnlineExperts(_h, options.ArOrder, options.SeasonRows, options.RlsForgetting, options.ExpertMemory);
        _perExpert = new double[OnlineExperts.Count * _h];
        _blend = new double[_h];
        _pending = new double[_h * _h];
        Array.Fill(_pending, double.NaN);
        _absRes = new double[_h];
        _pendingExperts = new double[_h * OnlineExperts.Count * _h];
        _absResExperts = new double[OnlineExperts.Count * _h];
        _bootRows = Math.Clamp(options.WarmupRows / 4, 8, 128);
        _boot = new double[_bootRows];
        _scaleDecay = 1.0 - 1.0 / options.ScaleMemory;
        _range = new RangeWindow(options.SpatialWindow);
        if (options.DiffScore > 0) _diffRange = new RangeWindow(options.SpatialWindow);
        if (options.MeanScore > 0) _meanRange = new RangeWindow(options.SpatialWindow);
        _meanRing = new double[Math.Max(1, options.MeanRows)];
        _forecastLikelihood = new Likelihood(options);
        _seasonLikelihood = new Likelihood(options);
        _modelLikelihood = new Likelihood(options);
        _modelAbsRes = new double[_h];
        _modelPending = new double[_h * _h];
        Array.Fill(_modelPending, double.NaN);
        _valueRing = new double[Math.Max(1, options.SeasonRows)];
    }

    public AnomalyOptions Options => _o;

    /// <summary>Rows seen so far.</summary>
    public long Rows => _row;

    /// <summary>
    /// Feeds the next value and returns its anomaly score in [0, 1] (0 during warm-up). A non-finite value (a gap) is
    /// not learned from and scores 0.
    /// </summary>
    public double Observe(double value) => Observe(value, ReadOnlySpan<float>.Empty);

    /// <summary>
    /// As <see cref="Observe(double)"/>, with an external forecaster's forecasts made after seeing this value (rows t+1,
    /// t+2, ... in the value's units, e.g. a network's served forecast): their standardized residuals, scored as each truth
    /// arrives, are one more surprise channel (weight <see cref="AnomalyOptions.ModelWeight"/>). Up to Horizon steps are
    /// used; an empty span (or NaN) means no forecast for those rows.
    /// </summary>
    public double Observe(double value, ReadOnlySpan<float> forecast)
    {
        if (!double.IsFinite(value)) return 0.0;
        long t = _row++;
        if (t < _bootRows)
        {
            _boot[t] = value;
            if (t == _bootRows - 1) FixNormalization();
            UpdateValueStats(value, out _, out _);
            return 0.0;
        }

        double x = (value - _mu) / _sigma;
        double raw = Surprise(x);
        if (_o.BestExpertWeight > 0) raw = (1 - _o.BestExpertWeight) * raw + _o.BestExpertWeight * BestExpertSurprise(x, t);
        UpdateValueStats(value, out bool spatial, out bool flat);
        _experts.Observe(x);
        PlanForecasts(t);

        double logTail = _forecastLikelihood.Next(raw);
        if (_modelSeen && _o.ModelWeight > 0)
            logTail = Math.Min(logTail, _o.ModelWeight * _modelLikelihood.Next(ModelSurprise(x, t)));
        PlanModelForecasts(forecast, t);
        if (_o.SeasonRows > 0 && _o.SeasonWeight > 0)
        {
            // Seasonal surprise: the value against the same phase one season ago, in its own scale.
            long n = t - _bootRows;
            int slot = (int)(n % _valueRing.Length);
            if (n >= _valueRing.Length)
            {
                double r = Math.Abs(x - _valueRing[slot]);
                double z = _seasonScale > 1e-9 ? Math.Min(r / (1.2533 * _seasonScale), _o.ZCap) : 0;
                _seasonScale = _seasonScale == 0 ? r : _scaleDecay * _seasonScale + (1 - _scaleDecay) * r;
                logTail = Math.Min(logTail, _o.SeasonWeight * _seasonLikelihood.Next(z));
            }
            _valueRing[slot] = x;
        }

        if (t < _o.WarmupRows) return 0.0;

        double likely = Math.Min(-logTail / (_o.TailDecades * Math.Log(10)), _o.LikelihoodCap);
        bool quiet = t < _likelyQuietUntil;
        if (quiet) likely *= _o.LikelihoodQuietFactor;
        double score = likely;
        if (spatial) score = Math.Max(score, _o.SpatialScore);
        if (flat) score = Math.Max(score, _o.FlatScore);
        if (t >= _o.WarmupRows + _o.MeanRows) score = Math.Max(score, _derived);
        score = Math.Clamp(score, 0.0, 1.0);

        // One event, one alert: within SuppressRows of a reported score, only a score above it by SuppressMargin is reported.
        bool holding = t < _holdUntil;
        if (holding && score <= _holdLevel + _o.SuppressMargin) return score * _o.SuppressedFactor;
        if (score > 0)
        {
            _holdLevel = holding ? Math.Max(_holdLevel, score) : score;
            _holdUntil = t + _o.SuppressRows;
        }
        if (likely >= _o.LikelihoodCap || (_o.QuietAfterAny && score >= _o.LikelihoodCap)) _likelyQuietUntil = t + _o.LikelihoodQuietRows;
        return score;
    }

    private void FixNormalization()
    {
        double s = 0, ss = 0, lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        foreach (double v in _boot) { s += v; lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
        _mu = s / _bootRows;
        foreach (double v in _boot) ss += (v - _mu) * (v - _mu);
        _sigma = Math.Sqrt(ss / _bootRows);
        double floor = Math.Max(Math.Abs(_mu) * 1e-3, 1e-9);
        if (!(_sigma > floor)) _sigma = Math.Max(floor, (hi - lo) * 0.1);
        for (int i = 0; i < _bootRows; i++)
        {
            _experts.Observe((_boot[i] - _mu) / _sigma);
            PlanForecasts(i);
        }
    }

    /// <summary>Keeps the external forecasts made at row t (normalized) until their truth arrives.</summary>
    private void PlanModelForecasts(ReadOnlySpan<float> forecast, long t)
    {
        if (forecast.IsEmpty && !_modelSeen) return;
        _modelSeen = true;
        int slot = (int)(t % _h);
        for (int s = 0; s < _h; s++)
            _modelPending[slot * _h + s] = s < forecast.Length ? (forecast[s] - _mu) / _sigma : double.NaN;
    }

    /// <summary>Mean standardized residual of the external forecasts landing on this row (0 when none has).</summary>
    private double ModelSurprise(double x, long t)
    {
        double zSum = 0;
        int n = 0;
        for (int s = 0; s < _h; s++)
        {
            long made = t - 1 - s;
            if (made < _bootRows) break;
            double f = _modelPending[(int)(made % _h) * _h + s];
            if (!double.IsFinite(f)) continue;
            double r = Math.Abs(x - f);
            double scale = _modelAbsRes[s];
            double z = scale > 1e-6 ? r / (1.2533 * scale) : (r > 1e-6 ? _o.ZCap : 0);
            zSum += Math.Min(z, _o.ZCap);
            n++;
            _modelAbsRes[s] = scale == 0 ? r : _scaleDecay * scale + (1 - _scaleDecay) * r;
        }
        return n == 0 ? 0 : zSum / n;
    }

    /// <summary>Forecasts made now for rows t+1..t+H, kept until their truth arrives.</summary>
    private void PlanForecasts(long t)
    {
        _lastDisagreement = _experts.Forecast(_perExpert, _blend);
        int slot = (int)(t % _h);
        for (int s = 0; s < _h; s++) _pending[slot * _h + s] = _blend[s];
        _perExpert.AsSpan().CopyTo(_pendingExperts.AsSpan(slot * _perExpert.Length, _perExpert.Length));
    }

    /// <summary>The least surprised expert's mean standardized residual over the steps (each expert in its own scale).</summary>
    private double BestExpertSurprise(double x, long t)
    {
        double best = double.MaxValue;
        int k = OnlineExperts.Count;
        for (int e = 0; e < k; e++)
        {
            double zSum = 0;
            int n = 0;
            for (int s = 0; s < _h; s++)
            {
                long made = t - 1 - s;
                if (made < 0) break;
                double f = _pendingExperts[(int)(made % _h) * k * _h + e * _h + s];
                double r = Math.Abs(x - f);
                ref double scale = ref _absResExperts[e * _h + s];
                double z = scale > 1e-6 ? r / (1.2533 * scale) : (r > 1e-6 ? _o.ZCap : 0);
                zSum += Math.Min(z, _o.ZCap);
                n++;
                scale = scale == 0 ? r : _scaleDecay * scale + (1 - _scaleDecay) * r;
            }
            if (n > 0) best = Math.Min(best, zSum / n);
        }
        return best == double.MaxValue ? 0 : best;
    }

    /// <summary>Raw surprise of normalized value x at the current row, before anything learns from it.</summary>
    private double Surprise(double x)
    {
        long t = _row - 1;
        double zSum = 0, miss = 0;
        int n = 0;
        for (int s = 0; s < _h; s++)
        {
            long made = t - 1 - s;                      // row whose forecast for step s + 1 lands on t
            if (made < 0) break;
            double f = _pending[(int)(made % _h) * _h + s];
            if (!double.IsFinite(f)) continue;
            double r = Math.Abs(x - f);
            double scale = _absRes[s];
            double floor = 1e-6;
            double z = scale > floor ? r / (1.2533 * scale) : (r > floor ? _o.ZCap : 0);
            z = Math.Min(z, _o.ZCap);
            zSum += z;
            if (z > _o.IntervalZ) miss++;
            n++;
            _absRes[s] = scale == 0 ? r : _scaleDecay * scale + (1 - _scaleDecay) * r;
        }
        if (n == 0) return 0;
        double d = _absRes[0] > 1e-6 ? Math.Min(_lastDisagreement / (1.2533 * _absRes[0]), _o.ZCap) : 0;
        return zSum / n + _o.CoverageWeight * miss / n + _o.DisagreementWeight * d;
    }

    private void UpdateValueStats(double v, out bool spatial, out bool flat)
    {
        flat = false;
        spatial = Novel(_range, v, _o.SpatialTolerance);
        _range.Push(v);
        // The same test on the step from the previous value and on the mean of the last MeanRows values.
        _derived = 0;
        if (_diffRange is not null && !double.IsNaN(_prev))
        {
            double d = v - _prev;
            if (Novel(_diffRange, d, _o.DiffTolerance)) _derived = Math.Max(_derived, _o.DiffScore);
            _diffRange.Push(d);
        }
        if (_meanRange is not null)
        {
            int slot = (int)((_row - 1) % _meanRing.Length);
            _meanSum += v - _meanRing[slot];
            _meanRing[slot] = v;
            if (_row >= _meanRing.Length)
            {
                double m = _meanSum / _meanRing.Length;
                if (Novel(_meanRange, m, _o.MeanTolerance)) _derived = Math.Max(_derived, _o.MeanScore);
                _meanRange.Push(m);
            }
        }

        if (v == _prev) _run++;
        else
        {
            _longestRun = Math.Max(_longestRun, _run);
            _run = 0;
            _flatFired = false;
        }
        _prev = v;
        // A stream constant since its start is not a flat-line anomaly: the run must have begun after the first rows.
        if (!_flatFired && _row > _o.WarmupRows && _run < _row - _bootRows && _run > _o.FlatFactor * _longestRun + _o.FlatMinRows)
        {
            flat = true;
            _flatFired = true;
        }
    }

    /// <summary>Whether x lies outside the window's range widened by tolerance × its width (never during the first rows).</summary>
    private bool Novel(RangeWindow w, double x, double tolerance)
    {
        double lo = w.Min, hi = w.Max, range = hi - lo;
        if (!(_row > _bootRows && range > 0)) return false;
        double tol = range * tolerance;
        return x > hi + tol || x < lo - tol;
    }

    /// <summary>
    /// HTM-style anomaly likelihood of one raw surprise series: the mean of its last ShortAverage values against the
    /// normal fit of those means over a short and a long reference window (the more surprising of the two).
    /// </summary>
    private sealed class Likelihood(AnomalyOptions o)
    {
        private readonly Window _avg = new(Math.Max(1, o.ShortAverage));
        private readonly Window _refShort = new(Math.Max(2, o.ReferenceShort));
        private readonly Window _refLong = new(Math.Max(2, o.ReferenceLong));

        /// <summary>ln of the upper-tail probability of the recent mean, given the raw value of this row.</summary>
        public double Next(double raw)
        {
            _avg.Push(raw);
            double m = _avg.Mean;
            double logTail = Math.Min(_refShort.LogUpperTail(m, o.MinReferenceStd), _refLong.LogUpperTail(m, o.MinReferenceStd));
            _refShort.Push(m);
            _refLong.Push(m);
            return logTail;
        }
    }

    /// <summary>
    /// Minimum and maximum of the last N values (all values when N = 0), in blocks of 64 rows: O(N / 64) per push,
    /// the window covering between N and N + 63 rows.
    /// </summary>
    private sealed class RangeWindow
    {
        private const int Block = 64;
        private readonly double[] _blockMin, _blockMax;
        private double _curMin = double.PositiveInfinity, _curMax = double.NegativeInfinity;
        private int _inBlock, _blocks, _next;

        public RangeWindow(int rows)
        {
            int n = rows <= 0 ? 1 : Math.Max(1, rows / Block);
            _blockMin = new double[n]; _blockMax = new double[n];
            _all = rows <= 0;
        }

        private readonly bool _all;
        public double Min { get; private set; } = double.PositiveInfinity;
        public double Max { get; private set; } = double.NegativeInfinity;

        public void Push(double v)
        {
            if (_all) { Min = Math.Min(Min, v); Max = Math.Max(Max, v); return; }
            _curMin = Math.Min(_curMin, v); _curMax = Math.Max(_curMax, v);
            if (++_inBlock == Block)
            {
                _blockMin[_next] = _curMin; _blockMax[_next] = _curMax;
                _next = (_next + 1) % _blockMin.Length;
                _blocks = Math.Min(_blocks + 1, _blockMin.Length);
                _inBlock = 0; _curMin = double.PositiveInfinity; _curMax = double.NegativeInfinity;
            }
            double lo = _curMin, hi = _curMax;
            for (int i = 0; i < _blocks; i++) { lo = Math.Min(lo, _blockMin[i]); hi = Math.Max(hi, _blockMax[i]); }
            Min = lo; Max = hi;
        }
    }

    /// <summary>A sliding window of the last N values with their running mean and variance (O(1) per push).</summary>
    private sealed class Window
    {
        private readonly double[] _v;
        private int _count, _next;
        private double _sum, _sumSq;

        public Window(int size) => _v = new double[size];

        public double Mean => _count == 0 ? 0 : _sum / _count;

        public void Push(double x)
        {
            if (_count == _v.Length) { double old = _v[_next]; _sum -= old; _sumSq -= old * old; }
            else _count++;
            _v[_next] = x; _sum += x; _sumSq += x * x;
            _next = (_next + 1) % _v.Length;
        }

        /// <summary>ln P(X ≥ x) under a normal fit of the window (0 when the window is too short to judge).</summary>
        public double LogUpperTail(double x, double minStd)
        {
            if (_count < 16) return 0.0;
            double mean = _sum / _count;
            double var = Math.Max(_sumSq / _count - mean * mean, 0);
            double sd = Math.Max(Math.Sqrt(var), minStd);
            return LogNormalTail((x - mean) / sd);
        }
    }

    /// <summary>Q(z) = P(N(0,1) ≥ z), via the complementary error function (Abramowitz–Stegun 7.1.26 is too coarse in the tail).</summary>
    public static double NormalTail(double z) => 0.5 * Erfc(z / Math.Sqrt(2));

    /// <summary>ln Q(z), finite far into the tail (asymptotic series beyond z = 8, where Q underflows the erfc fit).</summary>
    public static double LogNormalTail(double z)
    {
        if (z < 8) return Math.Log(Math.Max(NormalTail(z), 1e-300));
        double z2 = z * z;
        return -0.5 * z2 - Math.Log(z * Math.Sqrt(2 * Math.PI)) + Math.Log(1 - 1 / z2 + 3 / (z2 * z2));
    }

    private static double Erfc(double x)
    {
        // Numerical Recipes erfcc (Chebyshev), relative error < 1.2e-7 everywhere.
        double z = Math.Abs(x);
        double t = 1.0 / (1.0 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
                   t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851413 +
                   t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2.0 - r;
    }
}
