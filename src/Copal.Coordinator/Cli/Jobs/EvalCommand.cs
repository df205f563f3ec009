using System.CommandLine;
using System.Text.Json.Nodes;
using Copal.Coordinator.Cli.Hosting;
using Copal.Coordinator.Reporting;
using Copal.Data;
using Copal.Evaluation;
using Copal.Model;
using Copal.Tokenization;
using Serilog;
using Spectre.Console;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>`copal eval`: perplexity of a checkpoint on the test splits of some datasets.</summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var text = new TextOptions();
        var datasets = CommonOptions.Datasets("comma-separated dataset names (default: fiction,science,speech,news)");
        var seqLen = CommonOptions.SeqLen();
        var evalWindows = CommonOptions.EvalWindows();
        var report = CommonOptions.Report();
        var dtype = CommonOptions.DType();
        var batch = CommonOptions.BatchSize();
        var threads = CommonOptions.Threads();
        var command = new Command("eval", "Perplexity of a model on the test split of each dataset")
        {
            model, datasets, seqLen, evalWindows, report, dtype, batch, threads,
        };
        foreach (var o in text.All)
        {
            command.Options.Add(o);
        }

        command.SetAction(result =>
        {
            var compute = CommonOptions.Compute(result.GetValue(dtype)!, result.GetValue(batch), result.GetValue(threads));
            var names = CommonOptions.ParseDatasets(result.GetValue(datasets), Bundled.EvalDatasets);
            return Run(result.GetValue(model)!, text.Directory(result), text.TokenizerPath(result), names, result.GetValue(seqLen), result.GetValue(evalWindows), result.GetValue(report), compute);
        });
        return command;
    }

    private static int Run(string modelDir, DataDirectory data, string? tokenizerPath, IReadOnlyList<string> datasets, int? seqLen, int? evalWindows, string? reportPath, ComputeOptions compute)
    {
        if (evalWindows is { } windows)
        {
            InputChecks.AtLeast(windows, 1, CommonOptions.Names.EvalWindows);
        }

        using var model = LlamaModel.Open(modelDir);
        data.Require(datasets, Split.Test);
        var tokenizer = TokenizerFiles.Load(model, tokenizerPath);
        var length = ModelEvaluator.ResolveSeqLen(model.Config, seqLen);
        ReportWriter.CheckWritable(reportPath);
        Log.Information("Evaluating {Model} on {Datasets} with L={SeqLen}", modelDir, datasets, length);

        var evaluator = new ModelEvaluator(model, data, tokenizer, length, evalWindows, compute);
        var results = ConsoleProgress.Run(progress => evaluator.Evaluate(datasets, progress: progress));

        var table = new Table().AddColumns("dataset", "tokens", "windows", "perplexity");
        foreach (var r in results)
        {
            table.AddRow(r.Dataset, r.Tokens.ToString(), r.Windows.ToString(), r.Perplexity.ToString("F4"));
        }

        AnsiConsole.Write(table);
        if (reportPath != null)
        {
            var json = new JsonObject
            {
                ["model"] = Path.GetFullPath(modelDir),
                ["seqlen"] = length,
                ["dtype"] = compute.DType.ToString(),
                ["eval_windows"] = evalWindows,
                ["perplexity"] = ReportJson.ByDataset(results, r => r.Perplexity),
                ["tokens"] = ReportJson.ByDataset(results, r => r.Tokens),
            };
            ReportWriter.WriteJson(reportPath, json);
            Log.Information("Report written to {Report}", reportPath);
        }

        return 0;
    }
}
