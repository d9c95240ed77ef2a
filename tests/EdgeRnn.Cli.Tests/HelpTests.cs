using EdgeRnn.Cli;
using EdgeRnn.Daemon;

namespace EdgeRnn.Cli.Tests;

/// <summary>issue 15: `edgernn help CMD` and `CMD --help` for every command; one flag vocabulary with aliases.</summary>
public class HelpTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Entry.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    public static TheoryData<string> CommandNames() => new(Help.Commands.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(CommandNames))]
    public void Every_command_has_help_with_usage_and_example(string command)
    {
        var (code, text, err) = Run(command, "--help");
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Contains($"usage: edgernn {command}", text);
        Assert.Contains($"example:{Environment.NewLine}  edgernn {command}", text);
        var (code2, text2, _) = Run("help", command);
        Assert.Equal(0, code2);
        Assert.Equal(text, text2);
    }

    [Fact]
    public void Help_anywhere_on_the_line_wins_and_unknown_flags_suggest_the_closest()
    {
        Assert.Equal(0, Run("train", "--input", "x.csv", "-h").Code);
        var (code, _, err) = Run("export-onnx", "--modle", "m.safetensors", "--output", "m.onnx");
        Assert.Equal(2, code);
        Assert.Contains("unknown option --modle (did you mean --model?)", err);
        Assert.Contains("usage: edgernn export-onnx", err);
        Assert.Contains("did you mean train?", Run("trian").Err);
        Assert.Contains("usage: edgernn", Run("help").Out);
    }

    [Fact]
    public void Old_flag_names_are_aliases_of_the_shared_vocabulary()
    {
        var a = new Args(["--data", "d.csv", "--out", "m.safetensors", "--csv-rate-hz", "5", "--sample-period-seconds", "60", "--json=off", "--loop"], ["json", "loop"]);
        Assert.Equal("d.csv", a.Get("input"));
        Assert.Equal("m.safetensors", a.Get("output"));
        Assert.Equal("5", a.Get("rate"));
        Assert.Equal(TimeSpan.FromMinutes(1), Args.ParseDuration(a.Get("period")));
        Assert.False(a.GetSwitch("json"));
        Assert.True(a.GetSwitch("loop"));
        Assert.Equal(TimeSpan.FromHours(1), Args.ParseDuration("1h"));
        Assert.Throws<UsageException>(() => Args.ParseDuration("soon"));
    }
}
