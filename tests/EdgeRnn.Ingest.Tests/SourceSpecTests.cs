using System.IO.Ports;

namespace EdgeRnn.Ingest.Tests;

public class SourceSpecTests
{
    [Fact]
    public void Parses_every_kind()
    {
        var s = SourceSpec.Parse("serial:/dev/serial/by-id/usb-Arduino_Uno_123-if00@57600");
        Assert.Equal(SourceKind.Serial, s.Kind);
        Assert.Equal("/dev/serial/by-id/usb-Arduino_Uno_123-if00", s.Target);
        Assert.Equal(57600, s.BaudRate);
        var d = SourceSpec.Parse("serial:/dev/ttyUSB0");
        Assert.Equal(115200, d.BaudRate);
        Assert.Equal(Parity.None, d.Parity);
        var f = SourceSpec.Parse("serial:/dev/ttyS1@9600,7E2");
        Assert.Equal((7, Parity.Even, StopBits.Two), (f.DataBits, f.Parity, f.StopBits));
        Assert.Equal(new SourceSpec(SourceKind.Csv, "data/x.csv"), SourceSpec.Parse("csv:data/x.csv"));
        Assert.Equal(SourceKind.Stdin, SourceSpec.Parse("stdin").Kind);
        Assert.Equal(SourceKind.Stdin, SourceSpec.Parse("-").Kind);
        Assert.Equal(new SourceSpec(SourceKind.Mqtt, "plant/+/temp/#"), SourceSpec.Parse("mqtt:plant/+/temp/#"));
        Assert.Equal("serial:/dev/ttyUSB0@115200", d.ToString());
    }

    [Theory]
    [InlineData("", "expected serial:")]
    [InlineData("ftp:x", "unknown kind 'ftp'")]
    [InlineData("serial:/dev/ttyUSB0@fast", "baud rate 'fast'")]
    [InlineData("serial:/dev/ttyUSB0@9600,9X1", "framing '9X1'")]
    [InlineData("serial:@9600", "missing device path")]
    [InlineData("csv:", "nothing after")]
    [InlineData("mqtt:a/#/b", "'#' must be the last")]
    [InlineData("mqtt:a/b+", "whole topic level")]
    public void Bad_specs_say_what_is_wrong(string spec, string message)
    {
        var e = Assert.Throws<FormatException>(() => SourceSpec.Parse(spec));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void The_factory_builds_the_named_source()
    {
        Assert.IsType<SerialSource>(SourceFactory.Create(SourceSpec.Parse("serial:/dev/null@9600"), new SourceOptions()));
        Assert.IsType<MqttSource>(SourceFactory.Create(SourceSpec.Parse("mqtt:a/#"), new SourceOptions()));
        Assert.IsType<CsvSource>(SourceFactory.Create(SourceSpec.Parse("stdin"), new SourceOptions()));
        var e = Assert.Throws<FileNotFoundException>(() => SourceFactory.Create(SourceSpec.Parse("csv:/nonexistent/x.csv"), new SourceOptions()));
        Assert.Contains("/nonexistent/x.csv", e.Message);
    }
}
