using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeRnn.Daemon.Tests;

/// <summary>issue 15: /metrics parsed by a strict text-format (0.0.4) parser; HEAD answered.</summary>
public class MetricsExpositionTests
{
    private static readonly Regex Name = new("^[a-zA-Z_:][a-zA-Z0-9_:]*$");
    private static readonly Regex SampleLine = new("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)\\})? (\\S+)$");
    private static readonly Regex Label = new("\\G([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\\\n]|\\\\[\\\\\"n])*)\"(,|$)");

    /// <summary>
    /// Strict: HELP then TYPE then samples per family; each family typed once and never resumed; sample names match their
    /// family (summary: _sum/_count); counters end in _total; labels well-formed and escaped; no duplicate series; values parse.
    /// </summary>
    public static Dictionary<string, string> Parse(string text)
    {
        var types = new Dictionary<string, string>();
        var series = new HashSet<string>();
        string? family = null, type = null, helped = null;
        Assert.EndsWith("\n", text);
        foreach (string line in text[..^1].Split('\n'))
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                string n = line[7..].Split(' ')[0];
                Assert.Matches(Name, n);
                Assert.False(types.ContainsKey(n), $"family {n} appears twice");
                helped = n;
                continue;
            }
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                string[] p = line[7..].Split(' ');
                Assert.Equal(2, p.Length);
                Assert.Equal(helped, p[0]);
                Assert.Contains(p[1], new[] { "counter", "gauge", "summary", "histogram", "untyped" });
                Assert.False(types.ContainsKey(p[0]), $"family {p[0]} typed twice");
                types[p[0]] = p[1];
                family = p[0]; type = p[1];
                if (type == "counter") Assert.EndsWith("_total", family);
                continue;
            }
            Assert.False(line.StartsWith('#'), $"stray comment: {line}");
            var m = SampleLine.Match(line);
            Assert.True(m.Success, $"not a sample line: '{line}'");
            string name = m.Groups[1].Value;
            Assert.NotNull(family);
            bool ok = name == family || (type == "summary" && (name == family + "_sum" || name == family + "_count"));
            Assert.True(ok, $"sample {name} outside its family (current: {family} {type})");
            string labels = m.Groups[3].Value;
            var names = new List<string>();
            int at = 0;
            while (at < labels.Length)
            {
                var l = Label.Match(labels, at);
                Assert.True(l.Success && l.Index == at, $"bad labels in '{line}'");
                names.Add(l.Groups[1].Value);
                at += l.Length;
            }
            Assert.Equal(names.Count, names.Distinct().Count());
            string v = m.Groups[4].Value;
            Assert.True(v is "NaN" or "+Inf" or "-Inf" || double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out _), $"value '{v}'");
            Assert.True(series.Add(name + "{" + labels + "}"), $"duplicate series {name}{{{labels}}}");
        }
        return types;
    }

    [Fact]
    public async Task Exposition_is_strictly_valid_and_head_is_answered()
    {
        var metrics = new DaemonMetrics();
        var s = new StreamMetrics("boiler");
        s.SetTargets(["OT", "we\"ird\\name"]);
        s.Samples = 10; s.StepTicksSum = 1000;
        s.LatestNext[0] = 21.5f;
        metrics.Streams.Add(s);
        metrics.Streams.Add(new StreamMetrics("chiller"));
        metrics.SourceCounters = () => new Dictionary<string, long> { ["boiler:bytes"] = 4096, ["boiler:frames"] = 12, ["chiller:bad_rows"] = 1, ["chiller:frames"] = 3 };
        var types = Parse(metrics.Render());
        Assert.Equal("summary", types["edgernn_step_seconds"]);
        Assert.False(types.ContainsKey("edgernn_step_seconds_sum"));
        Assert.Equal("gauge", types["edgernn_build_info"]);
        Assert.Equal("gauge", types["process_start_time_seconds"]);
        Assert.Equal("gauge", types["process_resident_memory_bytes"]);
        Assert.Equal("counter", types["edgernn_source_bytes_total"]);
        Assert.Equal("counter", types["edgernn_source_frames_total"]);
        string text = metrics.Render();
        Assert.Contains("edgernn_forecast{stream=\"boiler\",target=\"OT\",step=\"next\"} 21.5\n", text);
        Assert.Contains("edgernn_forecast_abs_error{stream=\"boiler\",target=\"OT\",predictor=\"last_value\"}", text);
        Assert.Contains("edgernn_source_frames_total{stream=\"chiller\"} 3\n", text);
        Assert.Contains("target=\"we\\\"ird\\\\name\"", text);
        Assert.Matches(new Regex("process_resident_memory_bytes [1-9][0-9]{5,}\n"), text);

        await using var server = new MetricsServer(new IPEndPoint(IPAddress.Loopback, 0), metrics, () => (true, ""), NullLogger.Instance);
        server.Start();
        string head = await Request(server.LocalEndpoint, "HEAD /metrics HTTP/1.0\r\n\r\n");
        Assert.StartsWith("HTTP/1.0 200 OK", head);
        Assert.EndsWith("\r\n\r\n", head); // headers only
        Assert.Contains("Content-Length: ", head);
        string post = await Request(server.LocalEndpoint, "POST /metrics HTTP/1.0\r\n\r\n");
        Assert.Contains("Allow: GET, HEAD", post);
    }

    private static async Task<string> Request(IPEndPoint ep, string request)
    {
        using var c = new TcpClient();
        await c.ConnectAsync(ep);
        var st = c.GetStream();
        await st.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var r = new StreamReader(st);
        return await r.ReadToEndAsync();
    }
}
