namespace EdgeRnn.Forecasting.Backtest;

/// <summary>
/// Sees every scored window of one forecaster in a backtest (`backtest --output` / `--plot`): the served one, i.e. the
/// online aggregate at the daemon's default precision (int8 where the build has it, float32 otherwise).
/// </summary>
public interface IBacktestWindowSink
{
    /// <param name="variant">the result row these windows belong to, e.g. edgernn_int8</param>
    /// <param name="targets">target names, in the order of the forecast's C columns</param>
    /// <param name="intervals">whether lower/upper hold prediction intervals</param>
    void Begin(string variant, IReadOnlyList<string> targets, int horizon, bool intervals);

    /// <summary>
    /// The forecast made after observing <paramref name="row"/>, for rows row+1..row+H: forecast, lower, upper are
    /// [H, C] step-major, in sensor units (NaN where there is none). The spans are reused after the call.
    /// </summary>
    void Window(int row, ReadOnlySpan<float> forecast, ReadOnlySpan<float> lower, ReadOnlySpan<float> upper);
}
