namespace EdgeRnn.Cli.Tests;

/// <summary>issue 12: `bench --streams N [--fine-tune on|off]` flags are checked before anything is timed.</summary>
public class BenchStreamsTests
{
    private static (int Code, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Entry.Run(args, o, e);
        return (code, e.ToString());
    }

    [Fact]
    public void Stream_bench_flags_are_validated()
    {
        var (code, err) = Run("bench", "--fine-tune", "on");
        Assert.Equal(2, code);
        Assert.Contains("--fine-tune goes with --streams", err);
        (code, err) = Run("bench", "--streams", "0");
        Assert.Equal(2, code);
        Assert.Contains("--streams expects a positive integer", err);
        (code, err) = Run("bench", "--streams", "4", "--hidden", "32,64");
        Assert.Equal(2, code);
        Assert.Contains("--hidden with --streams expects one positive integer", err);
        (code, err) = Run("bench", "--streams", "4", "--fine-tune", "maybe");
        Assert.Equal(2, code);
        Assert.Contains("--fine-tune expects on or off", err);
    }
}
