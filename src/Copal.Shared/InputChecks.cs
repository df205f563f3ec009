namespace Copal;

/// <summary>Rules for values a user gives, named as the user gave them: an option, or a field of run.json.</summary>
public static class InputChecks
{
    public static void AtLeast(long value, long minimum, string name)
    {
        if (value < minimum)
        {
            throw new CopalInputException($"{name} must be at least {minimum}, got {value}");
        }
    }

    /// <summary>
    /// Refuses what <see cref="DistinctNames"/> refuses, and any name outside ASCII letters, digits,
    /// '_', '-' and '.' (not first): a dataset's name becomes a file name (NAME.calib.txt) and a
    /// directory name (stage-K-NAME), so it must not reach into another folder or hide itself.
    /// </summary>
    public static void DatasetNames(IReadOnlyList<string> names, string name)
    {
        DistinctNames(names, name);
        var bad = names.FirstOrDefault(dataset => dataset.Length == 0 || dataset[0] == '.' || !dataset.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'));
        if (bad != null)
        {
            throw new CopalInputException($"{name}: '{bad}' is not a dataset name (letters, digits, '_', '-' and '.', not first)");
        }
    }

    /// <summary>Refuses an empty list of names, a blank name, or a name given twice.</summary>
    public static void DistinctNames(IReadOnlyList<string> names, string name)
    {
        if (names.Count == 0)
        {
            throw new CopalInputException($"{name} needs at least one name");
        }

        if (names.Any(string.IsNullOrWhiteSpace))
        {
            throw new CopalInputException($"{name} holds a blank name");
        }

        var duplicate = names.GroupBy(x => x).FirstOrDefault(g => g.Count() > 1);
        if (duplicate != null)
        {
            throw new CopalInputException($"{name} names '{duplicate.Key}' twice");
        }
    }
}
