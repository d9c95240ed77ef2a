using System.Text.Json.Serialization;

namespace EdgeRnn.Forecasting;

/// <summary>Source-generated JSON (Native AOT: no reflection) for metadata arrays and backtest results.</summary>
[JsonSourceGenerationOptions(WriteIndented = false, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(float[]))]
[JsonSerializable(typeof(string[]))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(Backtest.BacktestReport))]
internal sealed partial class ForecastJsonContext : JsonSerializerContext;
