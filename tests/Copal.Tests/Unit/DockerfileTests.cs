using Copal.Cluster;
using Copal.Coordinator.Cluster;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// The Dockerfile parses as Docker reads it and agrees with the code. No Docker engine runs here,
/// so its instructions are read as Docker's parser does: comments dropped, lines joined at a
/// trailing backslash, each logical line opening with an instruction.
/// </summary>
public class DockerfileTests
{
    private static readonly HashSet<string> Keywords = new(StringComparer.OrdinalIgnoreCase)
    {
        "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
        "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
    };

    private sealed record Instruction(string Stage, string Keyword, string Arguments);

    [Fact]
    public void EveryLineOpensWithAnInstructionAndCopiesWhatExists()
    {
        var instructions = Instructions();
        Assert.All(instructions, i => Assert.True(Keywords.Contains(i.Keyword), $"stage {i.Stage}: '{i.Keyword} {i.Arguments}' is not an instruction"));

        var stages = new List<string>();
        foreach (var i in instructions)
        {
            if (i.Keyword == "FROM")
            {
                stages.Add(i.Stage);
            }
            else if (i.Keyword == "COPY" && i.Arguments.StartsWith("--from=", StringComparison.Ordinal))
            {
                Assert.Contains(i.Arguments.Split(' ')[0]["--from=".Length..], stages);
            }
            else if (i.Keyword == "COPY")
            {
                // Sources in the build context (the repository root), all but the destination.
                var sources = i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(a => !a.StartsWith("--", StringComparison.Ordinal)).SkipLast(1);
                Assert.All(sources, source => Assert.True(Path.Exists(Path.Combine(RepoPaths.Root, source)), $"COPY {source}: not in the repository"));
            }
        }

        // The targets the header's build commands name.
        Assert.Contains("copal", stages);
        Assert.Contains("copal-node", stages);
    }

    [Fact]
    public void TheNodeImageSetsTheLocalNodesMallocTunables()
    {
        var env = Instructions().Where(i => i.Stage == "copal-node" && i.Keyword == "ENV").Select(i => i.Arguments);
        Assert.Contains($"GLIBC_TUNABLES={LocalNodes.MallocTunables}", env);
    }

    [Fact]
    public void ImageDefaultsAreVariablesTheCodeReadsOnThePortsTheImagesExpose()
    {
        var instructions = Instructions();
        var env = instructions.Where(i => i.Stage == "runtime" && i.Keyword == "ENV")
            .SelectMany(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(pair => pair.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair[1]);
        Assert.All(env.Keys.Where(k => k.StartsWith("COPAL_", StringComparison.Ordinal)), k => Assert.Contains(k, EnvironmentVariables.All));

        string[] Exposed(string stage) => instructions.Where(i => i.Stage == stage && i.Keyword == "EXPOSE").SelectMany(i => i.Arguments.Split(' ')).ToArray();
        Assert.Equal([env[EnvironmentVariables.Port], env[EnvironmentVariables.DataPort], env[EnvironmentVariables.MetricsPort]], Exposed("copal-node"));
        Assert.Equal([env[EnvironmentVariables.Port], env[EnvironmentVariables.MetricsPort]], Exposed("copal"));
    }

    /// <summary>Each logical line as (stage, instruction, arguments); the stage is the last FROM's AS name.</summary>
    private static List<Instruction> Instructions()
    {
        var result = new List<Instruction>();
        var stage = string.Empty;
        var pending = string.Empty;
        foreach (var raw in File.ReadLines(Path.Combine(RepoPaths.Root, "Dockerfile")))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                pending += line[..^1] + " ";
                continue;
            }

            var logical = (pending + line).Trim();
            pending = string.Empty;
            var space = logical.IndexOf(' ');
            var keyword = logical[..space].ToUpperInvariant();
            var arguments = logical[(space + 1)..].Trim();
            if (keyword == "FROM")
            {
                var words = arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                stage = words.Length == 3 && words[1].Equals("AS", StringComparison.OrdinalIgnoreCase) ? words[2] : string.Empty;
            }

            result.Add(new Instruction(stage, keyword, arguments));
        }

        Assert.Equal(string.Empty, pending);
        return result;
    }
}
