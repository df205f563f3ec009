using Copal.Coordinator.Reporting;
using SkiaSharp;
using Xunit;

namespace Copal.Tests;

public class PlotsTests
{
    static readonly string[] Stages = ["after fiction", "after news"];
    static readonly string[] Datasets = ["fiction", "news"];

    // Even steps on a log scale (10, 20, 40, 80), so the four cells take four well separated colours.
    static readonly double[][] Perplexity = [[10, 20], [40, 80]];

    static readonly string[] Strategies = ["magnitude", "wanda", "sparsegpt"];
    static readonly string[] Bwt = ["BWT mean", "BWT max"];
    static readonly double[][] BwtValues = [[-1.25, 0.5], [0.3, 2.75], [-3.1, -0.4]];

    [Fact]
    public void Heatmap_writes_a_png_of_the_chart_size_that_is_not_blank()
    {
        using var dir = new TempDir();
        var path = dir.File("heatmap.png");

        Plots.Heatmap(path, "Perplexity", Stages, Datasets, Perplexity);

        using var bitmap = Decode(path);
        Assert.Equal(Plots.Width, bitmap.Width);
        Assert.Equal(Plots.Height, bitmap.Height);
        // Four cells, a colour bar gradient and anti-aliased text: far more than a blank or flat image.
        Assert.True(DistinctColours(bitmap) > 100, $"only {DistinctColours(bitmap)} colours");
    }

    [Fact]
    public void Heatmap_cell_colours_follow_the_values()
    {
        using var dir = new TempDir();
        var path = dir.File("heatmap.png");

        Plots.Heatmap(path, "Perplexity", Stages, Datasets, Perplexity);

        // Sampled well inside each cell but away from its centre, where the value is printed.
        // The grid fills the width left of the colour bar and the height below the column labels.
        using var bitmap = Decode(path);
        var columns = new[] { 0.25, 0.65 };
        var rows = new[] { 0.25, 0.7 };
        var brightness = rows.SelectMany(y => columns.Select(x => Luminance(bitmap.GetPixel((int)(x * Plots.Width), (int)(y * Plots.Height))))).ToArray();

        // Viridis gets brighter from low to high, so brightness must rise with 10 < 20 < 40 < 80.
        Assert.True(brightness.Zip(brightness.Skip(1)).All(pair => pair.First + 10 < pair.Second), string.Join(", ", brightness));
    }

    [Fact]
    public void Heatmap_title_renders_as_text()
    {
        using var dir = new TempDir();
        Plots.Heatmap(dir.File("with.png"), "Perplexity after each stage", Stages, Datasets, Perplexity);
        Plots.Heatmap(dir.File("without.png"), "", Stages, Datasets, Perplexity);

        using var with = Decode(dir.File("with.png"));
        using var without = Decode(dir.File("without.png"));
        AssertTextOnlyInTitleBand(with, without);
    }

    [Fact]
    public void Heatmap_prints_missing_values_without_failing()
    {
        using var dir = new TempDir();
        var path = dir.File("heatmap.png");

        Plots.Heatmap(path, "Perplexity", Stages, Datasets, [[10, double.PositiveInfinity], [double.NaN, 80]]);

        using var bitmap = Decode(path);
        Assert.Equal(Plots.Width, bitmap.Width);
    }

    [Fact]
    public void GroupedBars_writes_a_png_of_the_chart_size_that_is_not_blank()
    {
        using var dir = new TempDir();
        var path = dir.File("bars.png");

        Plots.GroupedBars(path, "Backward transfer", Strategies, Bwt, BwtValues, "perplexity change");

        using var bitmap = Decode(path);
        Assert.Equal(Plots.Width, bitmap.Width);
        Assert.Equal(Plots.Height, bitmap.Height);
        // White, grid lines, two series colours and the greys of anti-aliased text.
        Assert.True(DistinctColours(bitmap) > 20, $"only {DistinctColours(bitmap)} colours");
    }

    [Fact]
    public void GroupedBars_hangs_negative_bars_below_positive_ones()
    {
        using var dir = new TempDir();
        var path = dir.File("bars.png");

        Plots.GroupedBars(path, "BWT", ["up", "down"], ["mean"], [[2.0], [-2.0]], "change");

        // The two bars are the largest patch of one colour besides the white background; the
        // "up" group fills the left half and "down" the right. Rows above 80 hold the title and legend.
        using var bitmap = Decode(path);
        var bar = bitmap.Pixels.Where(c => c != SKColors.White).GroupBy(c => c).MaxBy(g => g.Count())!.Key;
        var up = MeanRowOfColour(bitmap, bar, 0, Plots.Width / 2);
        var down = MeanRowOfColour(bitmap, bar, Plots.Width / 2, Plots.Width);
        Assert.True(up + 100 < down, $"up bar centred on row {up}, down bar on row {down}");
    }

    [Fact]
    public void GroupedBars_title_renders_as_text()
    {
        using var dir = new TempDir();
        Plots.GroupedBars(dir.File("with.png"), "Backward transfer by strategy", Strategies, Bwt, BwtValues, "perplexity change");
        Plots.GroupedBars(dir.File("without.png"), "", Strategies, Bwt, BwtValues, "perplexity change");

        using var with = Decode(dir.File("with.png"));
        using var without = Decode(dir.File("without.png"));
        AssertTextOnlyInTitleBand(with, without);
    }

    [Fact]
    public void Output_replaces_an_existing_file_and_leaves_no_temporary_file()
    {
        using var dir = new TempDir();
        var path = dir.File("bars.png");
        File.WriteAllText(path, "stale");

        Plots.GroupedBars(path, "BWT", Strategies, Bwt, BwtValues, "change");

        using var bitmap = Decode(path);
        Assert.Equal([path], Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void Values_must_match_the_labels()
    {
        using var dir = new TempDir();
        Assert.Throws<ArgumentException>(() => Plots.Heatmap(dir.File("h.png"), "P", Stages, Datasets, [[1, 2]]));
        Assert.Throws<ArgumentException>(() => Plots.GroupedBars(dir.File("b.png"), "B", Strategies, Bwt, [[1], [2], [3]], "y"));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    static SKBitmap Decode(string path)
    {
        byte[] signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
        Assert.Equal(signature, File.ReadAllBytes(path)[..signature.Length]);
        return SKBitmap.Decode(path) ?? throw new InvalidDataException($"{path} is not a decodable image");
    }

    // The two charts differ only by their title, so text must show up there and nowhere else.
    static void AssertTextOnlyInTitleBand(SKBitmap with, SKBitmap without)
    {
        const int TitleBand = 56;
        var changedInTitle = ChangedPixels(with, without, 0, TitleBand);
        Assert.True(changedInTitle > 300, $"only {changedInTitle} pixels of title");
        Assert.Equal(0, ChangedPixels(with, without, TitleBand, Plots.Height));
    }

    static int ChangedPixels(SKBitmap a, SKBitmap b, int fromRow, int toRow)
    {
        var count = 0;
        for (var y = fromRow; y < toRow; y++)
            for (var x = 0; x < a.Width; x++)
                if (a.GetPixel(x, y) != b.GetPixel(x, y))
                    count++;
        return count;
    }

    static int DistinctColours(SKBitmap bitmap) => bitmap.Pixels.Distinct().Count();

    static double MeanRowOfColour(SKBitmap bitmap, SKColor colour, int fromColumn, int toColumn)
    {
        var rows = new List<int>();
        for (var y = 80; y < bitmap.Height; y++)
            for (var x = fromColumn; x < toColumn; x++)
                if (bitmap.GetPixel(x, y) == colour)
                    rows.Add(y);
        Assert.NotEmpty(rows);
        return rows.Average();
    }

    static double Luminance(SKColor c) => 0.299 * c.Red + 0.587 * c.Green + 0.114 * c.Blue;
}
