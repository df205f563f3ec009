namespace Copal.Data;

/// <summary>The splits pruning reads: NAME.calib.EXT and NAME.test.EXT (NAME.train.* is never read).</summary>
public enum Split
{
    Calib,
    Test,
}

/// <summary>A folder of datasets, each a set of split files named NAME.SPLIT.EXT (<see cref="SplitFormats.Extensions"/>).</summary>
public sealed class DataDirectory
{
    /// <summary>The JSON field or Parquet column that holds a record's text unless another is asked for.</summary>
    public const string DefaultTextField = "text";

    public DataDirectory(string path, string textField = DefaultTextField)
    {
        if (!Directory.Exists(path))
        {
            throw new CopalInputException($"{path}: data directory not found");
        }

        Path = path;
        TextField = textField;
    }

    public string Path { get; }

    /// <summary>The JSON field or Parquet column a record's text is read from (a .txt file has no fields).</summary>
    public string TextField { get; }

    public IReadOnlyList<string> Available(Split split) =>
        SplitFiles(split).Select(f => f.Dataset).Distinct().Order(StringComparer.Ordinal).ToList();

    /// <summary>The one file of a dataset's split, whatever its extension.</summary>
    public string FileOf(string dataset, Split split)
    {
        var files = SplitFiles(split).Where(f => f.Dataset == dataset).Select(f => f.File).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
        {
            var known = Available(split);
            var list = known.Count > 0 ? string.Join(", ", known) : "none";
            throw new CopalInputException($"unknown dataset '{dataset}': no {dataset}.{NameOf(split)}.{{{string.Join(",", SplitFormats.Extensions)}}} in {Path} (datasets with a {NameOf(split)} split: {list})");
        }

        if (files.Count > 1)
        {
            throw new CopalInputException($"dataset '{dataset}' has {files.Count} {NameOf(split)} files, only one may be present: {string.Join(", ", files)}");
        }

        return files[0];
    }

    /// <summary>True when the dataset has a file for the split (more than one is refused when it is read).</summary>
    public bool Has(string dataset, Split split) => SplitFiles(split).Any(f => f.Dataset == dataset);

    /// <summary>The split's text: its records joined by a blank line; see <see cref="SplitText.Read"/>.</summary>
    public string Text(string dataset, Split split, IProgress<WorkProgress>? progress = null) =>
        SplitText.Read(FileOf(dataset, split), TextField, progress);

    /// <summary>Fails early, before any work, if any dataset lacks a split or has two files for one.</summary>
    public void Require(IEnumerable<string> datasets, params Split[] splits)
    {
        foreach (var d in datasets)
        {
            foreach (var s in splits)
            {
                FileOf(d, s);
            }
        }
    }

    private static string NameOf(Split split) => split == Split.Calib ? "calib" : "test";

    private IEnumerable<(string Dataset, string File)> SplitFiles(Split split) =>
        from file in Directory.EnumerateFiles(Path)
        let name = System.IO.Path.GetFileName(file)
        from extension in SplitFormats.Extensions
        let suffix = $".{NameOf(split)}.{extension}"
        where name.Length > suffix.Length && name.EndsWith(suffix, StringComparison.Ordinal)
        select (name[..^suffix.Length], file);
}
