using System.CommandLine;
using Copal.Cluster;
using Copal.Coordinator.Monitoring;
using Copal.Observability;
using Spectre.Console;

namespace Copal.Coordinator.Cli.Jobs;

/// <summary>
/// `copal status RUN_DIR` or `copal status --url http://COORDINATOR:METRICS_PORT`: which stages
/// are done, which is running, and (live) which nodes hold which layers.
/// </summary>
public static class StatusCommand
{
    public static Command Create()
    {
        var runDir = new Argument<string?>("RUN_DIR") { Description = "the --out directory of a run", Arity = ArgumentArity.ZeroOrOne };
        var url = new Option<string?>("--url") { Description = $"ask a running coordinator instead (its metrics port: http://host:port) [env {EnvironmentVariables.CoordinatorUrl}]", DefaultValueFactory = _ => EnvironmentVariables.Get(EnvironmentVariables.CoordinatorUrl) };
        var timeout = new Option<double>("--timeout") { Description = "seconds to wait for the coordinator's answer", DefaultValueFactory = _ => 10 };
        timeout.Validators.Add(r =>
        {
            var seconds = r.GetValueOrDefault<double>();
            if (!(seconds > 0 && seconds <= TimeSpan.FromDays(1).TotalSeconds))
            {
                r.AddError($"--timeout {seconds}: expected seconds above 0, at most a day");
            }
        });
        var command = new Command("status", "Show the state of a run: from its journal and stage manifests, or live from its coordinator") { runDir, url, timeout };
        command.SetAction(async (result, cancel) =>
        {
            var directory = result.GetValue(runDir);
            var endpoint = result.GetValue(url);
            var status = directory is not null ? RunStatus.Read(directory, verify: true)
                : endpoint is not null ? await FetchAsync(endpoint, TimeSpan.FromSeconds(result.GetValue(timeout)), cancel)
                : throw new CopalInputException($"give RUN_DIR or --url (or {EnvironmentVariables.CoordinatorUrl})");
            Render(status);
            return 0;
        });
        return command;
    }

    private static async Task<RunStatus> FetchAsync(string url, TimeSpan timeout, CancellationToken cancel)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var baseUri) || baseUri.Scheme is not ("http" or "https"))
        {
            throw new CopalInputException($"--url {url}: expected http://host:port");
        }

        using var http = new HttpClient { Timeout = timeout };
        var target = new Uri(baseUri, HealthServer.StatusPath);
        try
        {
            using var response = await http.GetAsync(target, cancel);
            if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                throw new CopalInputException($"{target}: the coordinator has no run in progress");
            }

            response.EnsureSuccessStatusCode();
            return CopalJson.Deserialize<RunStatus>(await response.Content.ReadAsStringAsync(cancel));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException or InvalidDataException)
        {
            throw new CopalInputException($"{target}: {e.Message}");
        }
    }

    private static void Render(RunStatus status)
    {
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(status.RunDirectory)}[/]: {status.Method} / {status.Strategy} over {Markup.Escape(string.Join(" -> ", status.Datasets))}");
        var stages = new Table().AddColumns("stage", "dataset", "state", "shards (layers)", "written");
        foreach (var stage in status.Stages)
        {
            var written = stage.BytesWritten is { } bytes ? Planning.ByteSize.Format(bytes) : "-";
            stages.AddRow(stage.Stage.ToString(), Markup.Escape(stage.Dataset), Markup.Escape(stage.State), stage.Shards.Count == 0 ? "-" : string.Join(", ", stage.Shards), written);
        }

        AnsiConsole.Write(stages);
        Console.WriteLine(status.LastEvent is null ? "journal: empty" : $"last event: {status.LastEvent}");
        if (status.Live is not { } live)
        {
            return;
        }

        Console.WriteLine($"live: stage {live.Stage}, {live.StageProgress:P0} done, epoch {live.Epoch}, members {string.Join(", ", live.Members)}");
        if (live.Nodes.Count == 0)
        {
            Console.WriteLine("nodes: none assigned (in-process run, or waiting for nodes)");
            return;
        }

        var nodes = new Table().AddColumns("node", "layers", "data endpoint", "memory", "device");
        foreach (var node in live.Nodes)
        {
            nodes.AddRow(Markup.Escape(node.NodeId), $"{node.FirstLayer}-{node.LastLayer}", Markup.Escape(node.DataEndpoint), Planning.ByteSize.Format(node.MemoryBytes), Markup.Escape(node.Device));
        }

        AnsiConsole.Write(nodes);
    }
}
