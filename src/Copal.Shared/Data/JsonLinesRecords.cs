using System.Text.Json;

namespace Copal.Data;

/// <summary>JSON lines: one object per line, its text in a string field; blank lines are skipped.</summary>
internal static class JsonLinesRecords
{
    public static IEnumerable<string> Read(Stream file, string path, string textField)
    {
        using var reader = SplitFormats.OpenText(file);
        foreach (var record in Parse(Lines(reader.ReadLine), path, textField))
        {
            yield return record;
        }
    }

    /// <summary>The lines <paramref name="readLine"/> gives until it gives null.</summary>
    public static IEnumerable<string> Lines(Func<string?> readLine)
    {
        while (readLine() is { } line)
        {
            yield return line;
        }
    }

    /// <summary>
    /// The text field of every non-blank line; a line is numbered from 1 as an editor shows it.
    /// <paramref name="beforeBadLine"/> may check the rest of the file first, to report damage to it instead.
    /// </summary>
    public static IEnumerable<string> Parse(IEnumerable<string> lines, string path, string textField, Action? beforeBadLine = null)
    {
        var number = 0;
        foreach (var line in lines)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            string text;
            try
            {
                text = TextOf(line, $"{path}, line {number}", textField);
            }
            catch (CopalInputException)
            {
                beforeBadLine?.Invoke();
                throw;
            }

            yield return text;
        }
    }

    private static string TextOf(string line, string where, string textField)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw new CopalInputException($"{where}: not JSON ({e.Message})", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new CopalInputException($"{where}: a JSON {Kind(root)}, not an object");
            }

            if (!root.TryGetProperty(textField, out var text))
            {
                throw new CopalInputException($"{where}: no field '{textField}'");
            }

            return text.ValueKind == JsonValueKind.String
                ? text.GetString()!
                : throw new CopalInputException($"{where}: field '{textField}' is a {Kind(text)}, not a string");
        }
    }

    private static string Kind(JsonElement element) => element.ValueKind.ToString().ToLowerInvariant();
}
