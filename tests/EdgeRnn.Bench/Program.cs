using System.Diagnostics;
using System.Globalization;
using EdgeRnn.Model;
using EdgeRnn.Model.Quantized;
using EdgeRnn.Numerics.Int8;
using Microsoft.ML.OnnxRuntime;

// Streaming step (batch 1, one time step, state carried) of an LSTM forecaster, 8 inputs, 24 outputs:
// our float32 engine, our int8 engine, and ONNX Runtime's LSTM operator on the model `edgernn export-onnx` writes,
// with one intra-op thread and the state passed in and out on every call (preallocated OrtValues: ORT's fastest path).
const int Inputs = 8, Outputs = 24;
int runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 11;
int[] hiddens = args.Length > 1 ? args[1].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray() : [32, 64, 128, 256];

Console.WriteLine($"int8 kernel path: {Int8Kernels.Active.PathName}; ONNX Runtime {OrtEnv.Instance().GetVersionString()}, 1 intra-op thread");
Console.WriteLine($"LSTM {Inputs} -> H -> {Outputs}, one step per call, median of {runs} runs (ns/step)");
Console.WriteLine("hidden      float32         int8   onnxruntime   ort/int8   float/int8   ort/float   int8 GMAC/s");
foreach (int h in hiddens)
{
    var p = new ForecasterParameters(new ForecasterShape(RnnArch.Lstm, Inputs, h, 1, Outputs));
    var rng = new Random(7);
    for (int i = 0; i < p.Arena.Length; i++) p.Arena[i] = (float)(rng.NextDouble() * 2 - 1) / MathF.Sqrt(h);
    var x = new float[256 * Inputs];
    for (int i = 0; i < x.Length; i++) x[i] = MathF.Sin(0.1f * i);

    double tf = Measure(new FloatForecaster(p), x, runs);
    double tq = Measure(new Int8Forecaster(p), x, runs);
    double to = MeasureOrt(p, x, runs);
    long macs = 4L * h * (Inputs + h) + (long)Outputs * h;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{h,6} {tf,12:F0} {tq,12:F0} {to,13:F0} {to / tq,9:F1}x {tf / tq,11:F2}x {to / tf,10:F2}x {macs / tq,12:F2}"));
}

static double Measure(IForecaster f, float[] x, int runs)
{
    var y = new float[Outputs];
    return Time(runs, s => f.Step(x.AsSpan((s & 255) * Inputs, Inputs), y));
}

static double MeasureOrt(ForecasterParameters p, float[] x, int runs)
{
    int h = p.Shape.HiddenSize;
    using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
    options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL;
    using var session = new InferenceSession(OnnxExporter.Export(p), options);
    var xin = new float[Inputs];
    var h0 = new float[h];
    var c0 = new float[h];
    var y = new float[Outputs];
    var hT = new float[h];
    var cT = new float[h];
    using var vx = OrtValue.CreateTensorValueFromMemory(xin, [1, 1, Inputs]);
    using var vh = OrtValue.CreateTensorValueFromMemory(h0, [1, 1, h]);
    using var vc = OrtValue.CreateTensorValueFromMemory(c0, [1, 1, h]);
    using var vy = OrtValue.CreateTensorValueFromMemory(y, [1, 1, Outputs]);
    using var vhT = OrtValue.CreateTensorValueFromMemory(hT, [1, 1, h]);
    using var vcT = OrtValue.CreateTensorValueFromMemory(cT, [1, 1, h]);
    using var ro = new RunOptions();
    string[] inNames = ["input", "h0_0", "c0_0"];
    string[] outNames = ["output", "hT_0", "cT_0"];
    OrtValue[] ins = [vx, vh, vc];
    OrtValue[] outs = [vy, vhT, vcT];
    return Time(runs, s =>
    {
        x.AsSpan((s & 255) * Inputs, Inputs).CopyTo(xin);
        session.Run(ro, inNames, ins, outNames, outs);
        hT.CopyTo(h0.AsSpan());
        cT.CopyTo(c0.AsSpan());
    });
}

static double Time(int runs, Action<int> step)
{
    var sw = Stopwatch.StartNew();
    int warm = 0;
    while (sw.ElapsedMilliseconds < 300 || warm < 2000) step(warm++);
    double perStepMs = sw.Elapsed.TotalMilliseconds / warm;
    int steps = Math.Max(100, (int)(30 / perStepMs));
    var t = new double[runs];
    for (int r = 0; r < runs; r++)
    {
        long t0 = Stopwatch.GetTimestamp();
        for (int s = 0; s < steps; s++) step(s);
        t[r] = (Stopwatch.GetTimestamp() - t0) * 1e9 / Stopwatch.Frequency / steps;
    }
    Array.Sort(t);
    return t[runs / 2];
}
