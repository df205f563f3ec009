namespace Copal.Data;

/// <summary>The three splits a dataset may have on disk: NAME.calib.txt, NAME.test.txt, NAME.train.txt.</summary>
public enum Split
{
    Calib,
    Test,
}

/// <summary>A folder of datasets, each a set of split files named NAME.SPLIT.txt.</summary>
public sealed class DataDirectory
{
    public DataDirectory(string path)
    {
        if (!Directory.Exists(path))
        {
            throw new CopalInputException($"{path}: data directory not found");
        }

        Path = path;
    }

    public string Path { get; }

    public IReadOnlyList<string> Available(Split split) =>
        Directory.GetFiles(Path, "*." + Suffix(split))
            .Select(f => System.IO.Path.GetFileName(f)[..^(Suffix(split).Length + 1)])
            .Order(StringComparer.Ordinal)
            .ToList();

    public string FileOf(string dataset, Split split)
    {
        var file = System.IO.Path.Combine(Path, $"{dataset}.{Suffix(split)}");
        if (!File.Exists(file))
        {
            var known = Available(split);
            var list = known.Count > 0 ? string.Join(", ", known) : "none";
            throw new CopalInputException($"unknown dataset '{dataset}': {file} not found (datasets with a {Suffix(split)} file in {Path}: {list})");
        }

        return file;
    }

    /// <summary>Fails early, before any work, if any dataset lacks a split.</summary>
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

    private static string Suffix(Split split) => split == Split.Calib ? "calib.txt" : "test.txt";
}
