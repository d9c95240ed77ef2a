using EdgeRnn.Cli;
using EdgeRnn.Cli.Commands;

// One executable, many commands. Each command lives in Commands/<Name>Command.cs with
// `public static int Run(string[] args)` (async commands block on their own task there).
if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine("""
        edgernn: an edge time-series forecaster (LSTM, GRU, Elman RNN; int8 SIMD; online fine-tuning; MQTT)

        usage: edgernn <command> [options]

          demo          simulated sensor, in-process MQTT broker, live forecasts (no arguments needed)
          run           the daemon: sensor stream -> forecast -> MQTT (--config, --source, --model, --mqtt, ...)
          predict       run a model over a CSV (--model M.safetensors --input in.csv --output out.csv [--precision float32|int8])
          train         train a model on a CSV (--data D.csv --target COL --horizon H --out M.safetensors),
                        or a character model on text (--task next-char --data corpus.txt --out M.safetensors)
          generate      write text from a character model (--model M.safetensors [--prime TEXT] [--length N] [--temperature T]
                        [--top-k K] [--seed S] [--precision int8|float32])
          detect        anomaly score per row of a series (--data in.csv --output out.csv), NAB's format
          backtest      train and evaluate under a published protocol (--data D.csv --protocol ltsf|online ...)
          simulate      play a CSV as a microcontroller would (--data D.csv --to serial:/dev/pts/N)
          export-onnx   write a model as ONNX (--model M.safetensors --out M.onnx)
          bench         time one streaming step, float32 and int8, at several hidden sizes [--json]
          self-test     check every SIMD kernel path this CPU has against the scalar reference
          version       version, commit, runtime, instruction sets and kernel path
        """);
    return args.Length == 0 ? 2 : 0;
}

string command = args[0];
string[] rest = args[1..];
try
{
    return command switch
    {
        "predict" => PredictCommand.Run(rest),
        "train" => TrainCommand.Run(rest),
        "generate" => GenerateCommand.Run(rest),
        "backtest" => BacktestCommand.Run(rest),
        "detect" => DetectCommand.Run(rest),
        "bench" => BenchCommand.Run(rest),
        "export-onnx" => ExportOnnxCommand.Run(rest),
        "self-test" => SelfTestCommand.Run(rest),
        "simulate" => SimulateCommand.Run(rest),
        "run" => RunCommand.Run(rest),
        "demo" => DemoCommand.Run(rest),
        "version" or "--version" => VersionCommand.Run(rest),
        _ => throw new UsageException($"unknown command '{command}' (edgernn --help lists them)"),
    };
}
catch (UsageException e)
{
    Console.Error.WriteLine($"edgernn {command}: {e.Message}");
    return 2;
}
catch (Exception e) when (e is IOException or InvalidDataException or FormatException or UnauthorizedAccessException or ArgumentException)
{
    Console.Error.WriteLine($"edgernn {command}: error: {e.Message}");
    return 1;
}
