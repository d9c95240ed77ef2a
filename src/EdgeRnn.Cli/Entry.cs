using EdgeRnn.Cli.Commands;

namespace EdgeRnn.Cli;

/// <summary>
/// One executable, many commands. Each command lives in Commands/&lt;Name&gt;Command.cs with
/// `public static int Run(string[] args)` (async commands block on their own task there); its help is in <see cref="Help"/>.
/// </summary>
public static class Entry
{
    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            stdout.Write(Help.Overview());
            return args.Length == 0 ? 2 : 0;
        }
        string command = args[0];
        string[] rest = args[1..];
        try
        {
            if (command == "help")
            {
                stdout.Write(rest.Length == 0 ? Help.Overview() : Help.For(rest[0]));
                return 0;
            }
            return command switch
            {
                "forecast" => ForecastCommand.Run(rest),
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
                _ => throw new UsageException($"unknown command '{command}'{(Args.Suggest(command, Help.Commands.Select(c => c.Name)) is { } s ? $" (did you mean {s}?)" : "")} (edgernn --help lists them)"),
            };
        }
        catch (HelpRequestedException)
        {
            stdout.Write(Help.For(command));
            return 0;
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"edgernn {command}: {e.Message}");
            if (Help.Find(command) is { } h) stderr.WriteLine($"usage: {h.Usage}   (edgernn help {command})");
            return 2;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or FormatException or UnauthorizedAccessException or ArgumentException)
        {
            stderr.WriteLine($"edgernn {command}: error: {e.Message}");
            return 1;
        }
        catch (Exception e)
        {
            // a bug, not bad input: say so, with the stack, and exit 1 rather than abort with 134 and a core dump
            stderr.WriteLine($"edgernn {command}: internal error: {e.GetType().Name}: {e.Message}");
            stderr.WriteLine(e.StackTrace);
            return 1;
        }
    }
}
