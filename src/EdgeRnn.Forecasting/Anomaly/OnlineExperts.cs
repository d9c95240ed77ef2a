namespace EdgeRnn.Forecasting.Anomaly;

/// <summary>
/// A small bank of online one-stream forecasters the anomaly detector needs (naive, fast and slow exponential level,
/// seasonal naive, recursive-least-squares autoregression), each forecasting steps 1..H from the values seen so far,
/// and a softmin blend weighted by each expert's recent one-step error. Values are in the detector's normalized units.
/// Allocation-free after construction. (Local to the detector until the project's shared online experts land.)
/// </summary>
public sealed class OnlineExperts
{
    public const int Count = 5;
    private const int Naive = 0, LevelFast = 1, LevelSlow = 2, Seasonal = 3, Ar = 4;

    private readonly int _h, _p, _season;
    private readonly double[] _history;     // ring of the last max(p, season + H) values
    private long _n;
    private double _levelFast, _levelSlow;
    private readonly double _alphaFast, _alphaSlow, _errDecay;
    private readonly double[] _err;         // [Count] forgotten one-step squared error
    private readonly double[] _prevOneStep; // [Count] one-step forecasts made at the previous row
    private readonly Rls _rls;
    private readonly double[] _lagScratch;

    /// <param name="horizon">steps H each expert forecasts</param>
    /// <param name="arOrder">lags of the RLS autoregression</param>
    /// <param name="season">seasonal period in rows (0 = none)</param>
    public OnlineExperts(int horizon, int arOrder, int season, double forgetting, double errMemory)
    {
        _h = horizon; _p = arOrder; _season = season;
        _history = new double[Math.Max(arOrder, season + horizon) + 1];
        _alphaFast = 0.5; _alphaSlow = 0.05;
        _errDecay = 1.0 - 1.0 / errMemory;
        _err = new double[Count];
        _prevOneStep = new double[Count];
        _rls = new Rls(arOrder + 1, forgetting);
        _lagScratch = new double[arOrder + horizon + 1];
    }

    public long Seen => _n;

    private double Back(int k) => _history[(int)((_n - 1 - k) % _history.Length)]; // k = 0: the latest value

    /// <summary>Scores the previous row's one-step forecasts on <paramref name="x"/>, then learns from it.</summary>
    public void Observe(double x)
    {
        if (_n > 0)
        {
            for (int i = 0; i < Count; i++)
            {
                double e = x - _prevOneStep[i];
                _err[i] = _n == 1 ? e * e : _errDecay * _err[i] + (1 - _errDecay) * e * e;
            }
            if (_n > _p)
            {
                Span<double> phi = stackalloc double[_p + 1];
                FillLags(phi, 0);
                _rls.Update(phi, x);
            }
            _levelFast += _alphaFast * (x - _levelFast);
            _levelSlow += _alphaSlow * (x - _levelSlow);
        }
        else { _levelFast = x; _levelSlow = x; }
        _history[(int)(_n % _history.Length)] = x;
        _n++;
    }

    private void FillLags(Span<double> phi, int offset)
    {
        for (int k = 0; k < _p; k++) phi[k] = Back(k + offset);
        phi[_p] = 1.0;
    }

    /// <summary>
    /// Writes every expert's forecast for steps 1..H ([Count, H]) and the blend ([H]); returns the blend's expert
    /// disagreement (weighted standard deviation of the one-step forecasts).
    /// </summary>
    public double Forecast(Span<double> perExpert, Span<double> blend)
    {
        double last = Back(0);
        for (int s = 0; s < _h; s++)
        {
            perExpert[Naive * _h + s] = last;
            perExpert[LevelFast * _h + s] = _levelFast;
            perExpert[LevelSlow * _h + s] = _levelSlow;
            perExpert[Seasonal * _h + s] = _season > 0 && _n > _season ? Back(_season - 1 - (s % _season)) : last;
        }
        // AR: recursive multi-step on its own forecasts.
        Span<double> lags = _lagScratch;
        for (int k = 0; k < _p && k < _n; k++) lags[_h + k] = Back(k); // lags[_h + k] = x[t-k]
        for (int k = (int)Math.Min(_p, _n); k < _p; k++) lags[_h + k] = last;
        Span<double> phi = stackalloc double[_p + 1];
        for (int s = 0; s < _h; s++)
        {
            int top = _h - s; // lags[top .. top + p) are the newest p values, newest first
            for (int k = 0; k < _p; k++) phi[k] = lags[top + k];
            phi[_p] = 1.0;
            double f = _n > 4 * (_p + 1) ? _rls.Predict(phi) : last;
            if (!double.IsFinite(f)) f = last;
            lags[top - 1] = f;
            perExpert[Ar * _h + s] = f;
        }

        double best = double.MaxValue;
        for (int i = 0; i < Count; i++) best = Math.Min(best, _err[i]);
        Span<double> w = stackalloc double[Count];
        double wSum = 0;
        for (int i = 0; i < Count; i++)
        {
            // softmin on relative error: an expert twice as bad as the best gets e^-2 of its weight
            w[i] = Math.Exp(-2.0 * (_err[i] / (best + 1e-12) - 1.0));
            wSum += w[i];
        }
        for (int s = 0; s < _h; s++)
        {
            double f = 0;
            for (int i = 0; i < Count; i++) f += w[i] * perExpert[i * _h + s];
            blend[s] = f / wSum;
        }
        double mean = blend[0], v = 0;
        for (int i = 0; i < Count; i++)
        {
            double d = perExpert[i * _h] - mean;
            v += w[i] * d * d;
        }
        for (int i = 0; i < Count; i++) _prevOneStep[i] = perExpert[i * _h];
        return Math.Sqrt(v / wSum);
    }

    /// <summary>Recursive least squares with exponential forgetting; resets itself if it goes non-finite.</summary>
    private sealed class Rls
    {
        private readonly int _d;
        private readonly double _lambda;
        private readonly double[] _theta, _p, _pPhi;

        public Rls(int dim, double lambda)
        {
            _d = dim; _lambda = lambda;
            _theta = new double[dim]; _p = new double[dim * dim]; _pPhi = new double[dim];
            Reset();
        }

        private void Reset()
        {
            Array.Clear(_theta);
            Array.Clear(_p);
            for (int i = 0; i < _d; i++) _p[i * _d + i] = 100.0;
            if (_d > 1) _theta[0] = 1.0; // start as the naive forecast
        }

        public double Predict(ReadOnlySpan<double> phi)
        {
            double y = 0;
            for (int i = 0; i < _d; i++) y += _theta[i] * phi[i];
            return y;
        }

        public void Update(ReadOnlySpan<double> phi, double y)
        {
            double denom = _lambda;
            for (int i = 0; i < _d; i++)
            {
                double s = 0;
                for (int j = 0; j < _d; j++) s += _p[i * _d + j] * phi[j];
                _pPhi[i] = s;
                denom += phi[i] * s;
            }
            double e = y - Predict(phi);
            for (int i = 0; i < _d; i++) _theta[i] += _pPhi[i] / denom * e;
            for (int i = 0; i < _d; i++)
                for (int j = 0; j < _d; j++)
                    _p[i * _d + j] = (_p[i * _d + j] - _pPhi[i] * _pPhi[j] / denom) / _lambda;
            bool ok = double.IsFinite(denom) && denom > 0;
            for (int i = 0; i < _d && ok; i++) ok = double.IsFinite(_theta[i]) && Math.Abs(_p[i * _d + i]) < 1e8;
            if (!ok) Reset();
        }
    }
}
