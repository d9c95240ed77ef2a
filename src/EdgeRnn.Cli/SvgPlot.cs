using System.Globalization;
using System.Text;

namespace EdgeRnn.Cli;

/// <summary>
/// A self-contained SVG line chart (no scripts, no external fonts or styles): one panel per target, truth against
/// forecast, y range and row range labelled. Long series are thinned to at most <see cref="MaxPoints"/> points a line.
/// </summary>
public static class SvgPlot
{
    public const int MaxPoints = 2000;
    public sealed record Line(string Label, string Color, double[] X, double[] Y, bool Dashed = false);
    public sealed record Panel(string Title, IReadOnlyList<Line> Lines);

    public static string Render(string title, IReadOnlyList<Panel> panels, int width = 1000, int panelHeight = 260)
    {
        var ci = CultureInfo.InvariantCulture;
        const int left = 70, right = 20, top = 40, gap = 50;
        int height = top + panels.Count * (panelHeight + gap);
        var sb = new StringBuilder();
        sb.Append(ci, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append(ci, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n<text x=\"{left}\" y=\"22\" font-size=\"15\">{Esc(title)}</text>\n");
        for (int p = 0; p < panels.Count; p++)
        {
            var panel = panels[p];
            int y0 = top + p * (panelHeight + gap) + 20, w = width - left - right, h = panelHeight - 20;
            double xmin = double.MaxValue, xmax = double.MinValue, ymin = double.MaxValue, ymax = double.MinValue;
            foreach (var l in panel.Lines)
                for (int i = 0; i < l.X.Length; i++)
                    if (double.IsFinite(l.Y[i])) { xmin = Math.Min(xmin, l.X[i]); xmax = Math.Max(xmax, l.X[i]); ymin = Math.Min(ymin, l.Y[i]); ymax = Math.Max(ymax, l.Y[i]); }
            if (xmin > xmax) { xmin = 0; xmax = 1; ymin = 0; ymax = 1; }
            if (xmax == xmin) xmax = xmin + 1;
            if (ymax == ymin) { ymax += 0.5; ymin -= 0.5; }
            double pad = (ymax - ymin) * 0.05; ymin -= pad; ymax += pad;
            double X(double v) => left + (v - xmin) / (xmax - xmin) * w;
            double Y(double v) => y0 + h - (v - ymin) / (ymax - ymin) * h;
            sb.Append(ci, $"<text x=\"{left}\" y=\"{y0 - 6}\" font-size=\"13\">{Esc(panel.Title)}</text>\n");
            sb.Append(ci, $"<rect x=\"{left}\" y=\"{y0}\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"#999\"/>\n");
            sb.Append(ci, $"<text x=\"{left - 6}\" y=\"{y0 + 10}\" text-anchor=\"end\">{ymax:G4}</text><text x=\"{left - 6}\" y=\"{y0 + h}\" text-anchor=\"end\">{ymin:G4}</text>\n");
            sb.Append(ci, $"<text x=\"{left}\" y=\"{y0 + h + 15}\">{xmin:G6}</text><text x=\"{left + w}\" y=\"{y0 + h + 15}\" text-anchor=\"end\">{xmax:G6}</text>\n");
            int legend = left + 10;
            foreach (var l in panel.Lines)
            {
                int step = Math.Max(1, l.X.Length / MaxPoints);
                var pts = new StringBuilder();
                void Flush()
                {
                    if (pts.Length == 0) return;
                    sb.Append(ci, $"<polyline fill=\"none\" stroke=\"{l.Color}\" stroke-width=\"1.2\"{(l.Dashed ? " stroke-dasharray=\"5,3\"" : "")} points=\"{pts}\"/>\n");
                    pts.Clear();
                }
                for (int i = 0; i < l.X.Length; i += step)
                {
                    if (!double.IsFinite(l.Y[i])) { Flush(); continue; } // gaps stay gaps
                    pts.Append(ci, $"{X(l.X[i]):F1},{Y(l.Y[i]):F1} ");
                }
                Flush();
                sb.Append(ci, $"<line x1=\"{legend}\" y1=\"{y0 + 12}\" x2=\"{legend + 20}\" y2=\"{y0 + 12}\" stroke=\"{l.Color}\" stroke-width=\"2\"{(l.Dashed ? " stroke-dasharray=\"5,3\"" : "")}/>");
                sb.Append(ci, $"<text x=\"{legend + 24}\" y=\"{y0 + 16}\">{Esc(l.Label)}</text>\n");
                legend += 30 + 7 * l.Label.Length;
            }
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static string Esc(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&quot;", StringComparison.Ordinal);
}
