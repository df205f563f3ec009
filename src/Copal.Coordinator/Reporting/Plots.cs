using System.Globalization;
using Copal.Model;
using SkiaSharp;

namespace Copal.Coordinator.Reporting;

/// <summary>
/// PNG charts for pruning reports, drawn by hand with SkiaSharp: no display, no network and no
/// system fonts needed (the text uses a font embedded in this assembly).
/// </summary>
public static class Plots
{
    /// <summary>Every chart is this size, in pixels.</summary>
    public const int Width = 960;

    /// <summary>Every chart is this size, in pixels.</summary>
    public const int Height = 600;

    const float Margin = 24;
    const float TitleSize = 20;
    const float LabelSize = 14;
    const float ValueSize = 13;

    // Room above the plot for the title and, below it, the column labels or the legend.
    const float TitleBand = 56;
    const float PlotTop = TitleBand + 28;

    // Viridis at nine even stops: perceptually even and still ordered in grey, so cells compare fairly.
    static readonly SKColor[] ColourStops =
    [
        new(0x44, 0x01, 0x54), new(0x47, 0x2D, 0x7B), new(0x3B, 0x52, 0x8B), new(0x2C, 0x72, 0x8E), new(0x21, 0x91, 0x8C),
        new(0x28, 0xAE, 0x80), new(0x5E, 0xC9, 0x62), new(0xAD, 0xDC, 0x30), new(0xFD, 0xE7, 0x25),
    ];

    // Tableau's first colours: distinct for the few series a report has, and they cycle after that.
    static readonly SKColor[] SeriesColours =
    [
        new(0x1F, 0x77, 0xB4), new(0xFF, 0x7F, 0x0E), new(0x2C, 0xA0, 0x2C), new(0xD6, 0x27, 0x28), new(0x94, 0x67, 0xBD),
    ];

    static readonly SKColor Ink = new(0x22, 0x22, 0x22);
    static readonly SKColor GridLine = new(0xDD, 0xDD, 0xDD);
    static readonly SKColor MissingCell = new(0xBB, 0xBB, 0xBB);

    // Loaded once; never disposed, as every later chart in the process uses it.
    static readonly Lazy<SKTypeface> Typeface = new(LoadFont);

    /// <summary>
    /// A matrix such as perplexity P[stage][dataset] as a colour heatmap, each cell printed with its value.
    /// </summary>
    public static void Heatmap(string path, string title, IReadOnlyList<string> rowLabels, IReadOnlyList<string> columnLabels, double[][] values)
    {
        CheckShape(values, rowLabels.Count, columnLabels.Count);
        Render(path, canvas => DrawHeatmap(canvas, title, rowLabels, columnLabels, values));
    }

    /// <summary>
    /// Bars of values[group][series], side by side within each group; negative values hang below the zero line.
    /// </summary>
    public static void GroupedBars(string path, string title, IReadOnlyList<string> groups, IReadOnlyList<string> series, double[][] values, string yLabel)
    {
        CheckShape(values, groups.Count, series.Count);
        Render(path, canvas => DrawGroupedBars(canvas, title, groups, series, values, yLabel));
    }

    static void CheckShape(double[][] values, int rows, int columns)
    {
        if (rows == 0 || columns == 0)
            throw new ArgumentException("A chart needs at least one row and one column.", nameof(values));
        if (values.Length != rows || values.Any(row => row.Length != columns))
            throw new ArgumentException($"Expected {rows} rows of {columns} values, matching the labels.", nameof(values));
    }

    static void DrawHeatmap(SKCanvas canvas, string title, IReadOnlyList<string> rowLabels, IReadOnlyList<string> columnLabels, double[][] values)
    {
        DrawText(canvas, title, Width / 2f, Margin + TitleSize, TitleSize, Ink, SKTextAlign.Center);

        var scale = ColourScale.Of(values.SelectMany(row => row));
        var scaleTexts = new[] { 0, 0.5, 1 }.Select(t => Format(scale.ValueAt(t))).ToArray();

        // The colour bar and its labels take the right edge; the row labels the left; the cells the rest.
        var barRight = Width - Margin - scaleTexts.Max(text => MeasureText(text, LabelSize)) - 8;
        var bar = new SKRect(barRight - 18, PlotTop, barRight, Height - Margin);
        var left = Margin + rowLabels.Max(label => MeasureText(label, LabelSize)) + 10;
        var grid = new SKRect(left, PlotTop, bar.Left - 24, Height - Margin);
        var cellWidth = grid.Width / columnLabels.Count;
        var cellHeight = grid.Height / rowLabels.Count;

        for (var c = 0; c < columnLabels.Count; c++)
            DrawText(canvas, columnLabels[c], grid.Left + (c + 0.5f) * cellWidth, grid.Top - 8, LabelSize, Ink, SKTextAlign.Center);

        using var fill = new SKPaint { IsAntialias = false };
        for (var r = 0; r < rowLabels.Count; r++)
        {
            var middle = grid.Top + (r + 0.5f) * cellHeight;
            DrawText(canvas, rowLabels[r], grid.Left - 10, Baseline(middle, LabelSize), LabelSize, Ink, SKTextAlign.Right);
            for (var c = 0; c < columnLabels.Count; c++)
            {
                var value = values[r][c];
                fill.Color = double.IsFinite(value) ? ColourAt(scale.Fraction(value)) : MissingCell;
                // A one-pixel inset leaves white lines between the cells.
                var cell = SKRect.Create(grid.Left + c * cellWidth, grid.Top + r * cellHeight, cellWidth, cellHeight);
                cell.Inflate(-1, -1);
                canvas.DrawRect(cell, fill);
                DrawText(canvas, double.IsFinite(value) ? Format(value) : "missing", cell.MidX, Baseline(middle, ValueSize), ValueSize, ContrastingInk(fill.Color), SKTextAlign.Center);
            }
        }

        DrawColourBar(canvas, bar, scaleTexts);
    }

    static void DrawColourBar(SKCanvas canvas, SKRect bar, string[] texts)
    {
        // The bar runs from the low end at the bottom to the high end at the top, through the same stops as the cells.
        using var shader = SKShader.CreateLinearGradient(new SKPoint(0, bar.Bottom), new SKPoint(0, bar.Top), ColourStops, SKShaderTileMode.Clamp);
        using var paint = new SKPaint { Shader = shader };
        canvas.DrawRect(bar, paint);
        for (var i = 0; i < texts.Length; i++)
        {
            var y = bar.Bottom - i / (texts.Length - 1f) * bar.Height;
            DrawText(canvas, texts[i], bar.Right + 8, Baseline(y, LabelSize), LabelSize, Ink, SKTextAlign.Left);
        }
    }

    static void DrawGroupedBars(SKCanvas canvas, string title, IReadOnlyList<string> groups, IReadOnlyList<string> series, double[][] values, string yLabel)
    {
        DrawText(canvas, title, Width / 2f, Margin + TitleSize, TitleSize, Ink, SKTextAlign.Center);
        DrawLegend(canvas, series);

        var ticks = AxisTicks(values.SelectMany(row => row).Where(double.IsFinite));
        var tickTexts = ticks.Select(Format).ToArray();
        var left = Margin + LabelSize + 10 + tickTexts.Max(text => MeasureText(text, LabelSize)) + 8;
        var plot = new SKRect(left, PlotTop, Width - Margin, Height - Margin - LabelSize - 12);
        float Y(double value) => (float)(plot.Bottom - (value - ticks[0]) / (ticks[^1] - ticks[0]) * plot.Height);

        using var line = new SKPaint { Color = GridLine, StrokeWidth = 1, IsAntialias = false };
        for (var i = 0; i < ticks.Length; i++)
        {
            canvas.DrawLine(plot.Left, Y(ticks[i]), plot.Right, Y(ticks[i]), line);
            DrawText(canvas, tickTexts[i], plot.Left - 8, Baseline(Y(ticks[i]), LabelSize), LabelSize, Ink, SKTextAlign.Right);
        }

        canvas.Save();
        canvas.RotateDegrees(-90, Margin + LabelSize, plot.MidY);
        DrawText(canvas, yLabel, Margin + LabelSize, plot.MidY, LabelSize, Ink, SKTextAlign.Center);
        canvas.Restore();

        // Each group gets an equal slot; its bars fill the middle 80% so neighbouring groups stay apart.
        var slot = plot.Width / groups.Count;
        var barWidth = slot * 0.8f / series.Count;
        using var fill = new SKPaint { IsAntialias = true };
        for (var g = 0; g < groups.Count; g++)
        {
            var slotLeft = plot.Left + g * slot;
            DrawText(canvas, groups[g], slotLeft + slot / 2, plot.Bottom + LabelSize + 8, LabelSize, Ink, SKTextAlign.Center);
            for (var s = 0; s < series.Count; s++)
            {
                var value = values[g][s];
                var x = slotLeft + slot * 0.1f + s * barWidth;
                var end = double.IsFinite(value) ? Y(value) : Y(0);
                fill.Color = SeriesColours[s % SeriesColours.Length];
                canvas.DrawRect(new SKRect(x + barWidth * 0.05f, Math.Min(end, Y(0)), x + barWidth * 0.95f, Math.Max(end, Y(0))), fill);
                // The value sits beyond the bar's end: above a positive bar, below a negative one.
                var baseline = value < 0 ? end + ValueSize + 4 : end - 4;
                DrawText(canvas, Format(value), x + barWidth / 2, baseline, ValueSize, Ink, SKTextAlign.Center);
            }
        }

        using var zero = new SKPaint { Color = Ink, StrokeWidth = 1.5f, IsAntialias = true };
        canvas.DrawLine(plot.Left, Y(0), plot.Right, Y(0), zero);
    }

    static void DrawLegend(SKCanvas canvas, IReadOnlyList<string> series)
    {
        // One row under the title, right-aligned: a swatch and a name per series.
        const float Swatch = 12;
        const float Gap = 6;
        const float Spacing = 18;
        var widths = series.Select(name => Swatch + Gap + MeasureText(name, LabelSize)).ToArray();
        var x = Width - Margin - widths.Sum() - Spacing * (series.Count - 1);
        var middle = TitleBand + 8;
        using var fill = new SKPaint { IsAntialias = true };
        for (var s = 0; s < series.Count; s++)
        {
            fill.Color = SeriesColours[s % SeriesColours.Length];
            canvas.DrawRect(SKRect.Create(x, middle - Swatch / 2, Swatch, Swatch), fill);
            DrawText(canvas, series[s], x + Swatch + Gap, Baseline(middle, LabelSize), LabelSize, Ink, SKTextAlign.Left);
            x += widths[s] + Spacing;
        }
    }

    /// <summary>Evenly spaced round values covering zero and every value, with a little headroom for the bar labels.</summary>
    static double[] AxisTicks(IEnumerable<double> values)
    {
        var list = values.ToList();
        var low = Math.Min(0, list.DefaultIfEmpty(0).Min());
        var high = Math.Max(0, list.DefaultIfEmpty(0).Max());
        if (low == high)
            high = 1;
        var headroom = (high - low) * 0.08;
        low = low < 0 ? low - headroom : 0;
        high = high > 0 ? high + headroom : 0;

        // The step is 1, 2 or 5 times a power of ten, giving about five intervals.
        var rough = (high - low) / 5;
        var power = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        var step = new[] { 1, 2, 5, 10 }.Select(m => m * power).First(s => s >= rough);
        var first = (int)Math.Floor(low / step);
        var last = (int)Math.Ceiling(high / step);
        // Multiplying whole numbers of steps keeps zero exactly zero, so the zero line sits on a tick.
        return Enumerable.Range(first, last - first + 1).Select(i => i * step).ToArray();
    }

    /// <summary>Maps values to [0, 1] for the colour map.</summary>
    readonly record struct ColourScale(double Low, double High, bool Logarithmic)
    {
        // Perplexity grows exponentially with loss, so a pruning stage that wrecks one dataset
        // would wash every other cell into one colour on a linear scale; a log scale keeps them apart.
        public static ColourScale Of(IEnumerable<double> values)
        {
            var finite = values.Where(double.IsFinite).DefaultIfEmpty(0).ToList();
            return new ColourScale(finite.Min(), finite.Max(), finite.All(v => v > 0));
        }

        public double Fraction(double value) =>
            High == Low ? 0.5
            : Logarithmic ? Math.Log(value / Low) / Math.Log(High / Low)
            : (value - Low) / (High - Low);

        public double ValueAt(double fraction) =>
            Logarithmic ? Low * Math.Pow(High / Low, fraction) : Low + fraction * (High - Low);
    }

    static SKColor ColourAt(double fraction)
    {
        var position = Math.Clamp(fraction, 0, 1) * (ColourStops.Length - 1);
        var index = Math.Min((int)position, ColourStops.Length - 2);
        var t = (float)(position - index);
        var (a, b) = (ColourStops[index], ColourStops[index + 1]);
        return new SKColor(Lerp(a.Red, b.Red, t), Lerp(a.Green, b.Green, t), Lerp(a.Blue, b.Blue, t));
    }

    static byte Lerp(byte from, byte to, float t) => (byte)Math.Round(from + (to - from) * t);

    // Dark cells need light text and light cells dark text for the printed values to stay readable.
    static SKColor ContrastingInk(SKColor background) =>
        0.299 * background.Red + 0.587 * background.Green + 0.114 * background.Blue > 140 ? Ink : SKColors.White;

    // Whole numbers once the digits after the point stop telling anything; otherwise three significant digits.
    static string Format(double value) =>
        value.ToString(Math.Abs(value) >= 100 ? "F0" : "G3", CultureInfo.InvariantCulture);

    /// <summary>The baseline that centres a line of text of this size on <paramref name="middle"/>.</summary>
    static float Baseline(float middle, float size)
    {
        using var font = NewFont(size);
        var metrics = font.Metrics;
        return middle - (metrics.Ascent + metrics.Descent) / 2;
    }

    static float MeasureText(string text, float size)
    {
        using var font = NewFont(size);
        return Advance(font, text);
    }

    // SkiaSharp 2.88's SKFont measures glyphs only, not strings.
    static float Advance(SKFont font, string text)
    {
        var glyphs = new ushort[font.CountGlyphs(text)];
        font.GetGlyphs(text, glyphs);
        return font.MeasureText(glyphs);
    }

    // Alignment is done here rather than with SKPaint.TextAlign, which later SkiaSharp versions drop.
    static void DrawText(SKCanvas canvas, string text, float x, float baseline, float size, SKColor colour, SKTextAlign align)
    {
        // Skia makes no text blob for an empty string, and there is nothing to draw anyway.
        if (text.Length == 0)
            return;
        using var font = NewFont(size);
        using var paint = new SKPaint { Color = colour, IsAntialias = true };
        var width = Advance(font, text);
        var left = align switch { SKTextAlign.Center => x - width / 2, SKTextAlign.Right => x - width, _ => x };
        canvas.DrawText(text, left, baseline, font, paint);
    }

    static SKFont NewFont(float size) => new(Typeface.Value, size) { Edging = SKFontEdging.Antialias, Subpixel = true };

    static SKTypeface LoadFont()
    {
        // The font is embedded so that text renders on machines without fontconfig or any installed font.
        const string Resource = "Copal.Coordinator.Reporting.DejaVuSans.ttf";
        using var stream = typeof(Plots).Assembly.GetManifestResourceStream(Resource)
            ?? throw new InvalidOperationException($"The embedded font {Resource} is missing from the build.");
        // Copied into native memory so Skia never reads the managed stream later, from whatever thread draws.
        using var data = SKData.Create(stream);
        return SKTypeface.FromData(data) ?? throw new InvalidOperationException($"Skia could not read the embedded font {Resource}.");
    }

    static void Render(string path, Action<SKCanvas> draw)
    {
        using var bitmap = new SKBitmap(Width, Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            draw(canvas);
        }

        using var image = SKImage.FromBitmap(bitmap);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);

        // A reader (or a crash) never sees half a PNG: the file appears whole or not at all.
        AtomicFile.WriteAllBytes(path, png.ToArray());
    }
}
