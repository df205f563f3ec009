using System.CommandLine;
using Copal.Data;

namespace Copal.Coordinator.Cli.Hosting;

/// <summary>Where a command's text comes from and what tokenizes it: --data, --text-field and --tokenizer.</summary>
public sealed class TextOptions
{
    public Option<string> Data { get; } = new("--data")
    {
        Description = "directory of NAME.calib.EXT / NAME.test.EXT splits, EXT one of txt, jsonl, jsonl.gz, json.gz, parquet (default: the bundled corpora)",
        DefaultValueFactory = _ => Bundled.Data,
    };

    public Option<string> TextField { get; } = new("--text-field")
    {
        Description = "the JSON field or Parquet column holding each record's text",
        DefaultValueFactory = _ => DataDirectory.DefaultTextField,
    };

    public Option<string?> Tokenizer { get; } = new("--tokenizer")
    {
        Description = "a tokenizer.json or tokenizer.model to use instead of the checkpoint's own (default: its tokenizer.json, else its tokenizer.model)",
    };

    public IEnumerable<Option> All => [Data, TextField, Tokenizer];

    public DataDirectory Directory(ParseResult result) => new(result.GetValue(Data)!, result.GetValue(TextField)!);

    /// <summary>The tokenizer given, as an absolute path (run.json keeps it for resume), or null for the checkpoint's own.</summary>
    public string? TokenizerPath(ParseResult result) => result.GetValue(Tokenizer) is { } path ? Path.GetFullPath(path) : null;
}
