using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Copal.Data;
using Parquet;
using Parquet.Schema;

namespace Copal.Tests;

/// <summary>Split files written for real, in every format a dataset may come in.</summary>
public static class SplitFiles
{
    /// <summary>Writes <paramref name="records"/> as the file's extension says (Parquet in three row groups).</summary>
    public static async Task WriteSplit(string file, IReadOnlyList<string> records)
    {
        if (file.EndsWith(".txt", StringComparison.Ordinal))
        {
            File.WriteAllText(file, string.Join(SplitText.RecordSeparator, records));
        }
        else if (file.EndsWith(".parquet", StringComparison.Ordinal))
        {
            var third = (records.Count + 2) / 3;
            await WriteParquet(file, "text", [.. records.Chunk(third)]);
        }
        else
        {
            // A blank line among the records, which the reader skips.
            var lines = records.Select(r => JsonSerializer.Serialize(new Dictionary<string, string> { ["id"] = "x", ["text"] = r })).ToList();
            lines.Insert(1, "");
            WriteJsonLines(file, string.Join("\n", lines) + "\n");
        }
    }

    public static void WriteJsonLines(string file, string content)
    {
        using var stream = File.Create(file);
        using var target = file.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(stream, CompressionLevel.Optimal) : (Stream)stream;
        target.Write(Encoding.UTF8.GetBytes(content));
    }

    public static async Task WriteParquet(string file, string column, IReadOnlyList<string?[]> rowGroups)
    {
        var field = new DataField<string>(column, nullable: true);
        await using var stream = File.Create(file);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(field), stream);
        foreach (var rows in rowGroups)
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(field, rows!, null);
        }
    }
}
