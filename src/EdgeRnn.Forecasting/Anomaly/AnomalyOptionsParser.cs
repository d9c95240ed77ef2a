using System.Globalization;

namespace EdgeRnn.Forecasting.Anomaly;

/// <summary>Reads "Name=value,Name=value" overrides of <see cref="AnomalyOptions"/> (names as the properties).</summary>
public static class AnomalyOptionsParser
{
    public static AnomalyOptions Apply(AnomalyOptions o, string spec)
    {
        foreach (string part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"detector setting '{part}' is not Name=value");
            string name = part[..eq].Trim();
            string text = part[(eq + 1)..].Trim();
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
                throw new ArgumentException($"detector setting {name}: '{text}' is not a number");
            int i = (int)v;
            o = name switch
            {
                nameof(AnomalyOptions.WarmupRows) => o with { WarmupRows = i },
                nameof(AnomalyOptions.SeasonRows) => o with { SeasonRows = i },
                nameof(AnomalyOptions.SeasonWeight) => o with { SeasonWeight = v },
                nameof(AnomalyOptions.Horizon) => o with { Horizon = i },
                nameof(AnomalyOptions.ArOrder) => o with { ArOrder = i },
                nameof(AnomalyOptions.RlsForgetting) => o with { RlsForgetting = v },
                nameof(AnomalyOptions.ExpertMemory) => o with { ExpertMemory = v },
                nameof(AnomalyOptions.ScaleMemory) => o with { ScaleMemory = v },
                nameof(AnomalyOptions.ZCap) => o with { ZCap = v },
                nameof(AnomalyOptions.DisagreementWeight) => o with { DisagreementWeight = v },
                nameof(AnomalyOptions.CoverageWeight) => o with { CoverageWeight = v },
                nameof(AnomalyOptions.BestExpertWeight) => o with { BestExpertWeight = v },
                nameof(AnomalyOptions.IntervalZ) => o with { IntervalZ = v },
                nameof(AnomalyOptions.ShortAverage) => o with { ShortAverage = i },
                nameof(AnomalyOptions.ReferenceShort) => o with { ReferenceShort = i },
                nameof(AnomalyOptions.ReferenceLong) => o with { ReferenceLong = i },
                nameof(AnomalyOptions.MinReferenceStd) => o with { MinReferenceStd = v },
                nameof(AnomalyOptions.TailDecades) => o with { TailDecades = v },
                nameof(AnomalyOptions.LikelihoodCap) => o with { LikelihoodCap = v },
                nameof(AnomalyOptions.SpatialTolerance) => o with { SpatialTolerance = v },
                nameof(AnomalyOptions.SpatialWindow) => o with { SpatialWindow = i },
                nameof(AnomalyOptions.SpatialScore) => o with { SpatialScore = v },
                nameof(AnomalyOptions.FlatFactor) => o with { FlatFactor = v },
                nameof(AnomalyOptions.FlatMinRows) => o with { FlatMinRows = i },
                nameof(AnomalyOptions.FlatScore) => o with { FlatScore = v },
                nameof(AnomalyOptions.ModelWeight) => o with { ModelWeight = v },
                nameof(AnomalyOptions.LikelihoodQuietRows) => o with { LikelihoodQuietRows = i },
                nameof(AnomalyOptions.LikelihoodQuietFactor) => o with { LikelihoodQuietFactor = v },
                nameof(AnomalyOptions.DiffScore) => o with { DiffScore = v },
                nameof(AnomalyOptions.DiffTolerance) => o with { DiffTolerance = v },
                nameof(AnomalyOptions.MeanScore) => o with { MeanScore = v },
                nameof(AnomalyOptions.MeanRows) => o with { MeanRows = i },
                nameof(AnomalyOptions.MeanTolerance) => o with { MeanTolerance = v },
                nameof(AnomalyOptions.QuietAfterAny) => o with { QuietAfterAny = v != 0 },
                nameof(AnomalyOptions.SuppressRows) => o with { SuppressRows = i },
                nameof(AnomalyOptions.SuppressMargin) => o with { SuppressMargin = v },
                nameof(AnomalyOptions.SuppressedFactor) => o with { SuppressedFactor = v },
                _ => throw new ArgumentException($"unknown detector setting '{name}'"),
            };
        }
        return o;
    }
}
