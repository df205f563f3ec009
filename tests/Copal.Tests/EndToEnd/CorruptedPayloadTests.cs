using Copal.Cluster;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// A bit of an activation payload flipped on the wire between real processes (the sender's fault
/// injection, after its checksum): the receiving node detects it, the stage is retried on a new
/// pipeline, and the run ends bit-identical to a clean one.
/// </summary>
public class CorruptedPayloadTests
{
    [Fact]
    public void AFlippedPayloadBitIsDetectedAndTheRunEndsIdentical()
    {
        using var dir = new TempDir();
        var clean = CopalCli.Run([.. ResumeTests.Run, "--out", dir.File("clean")]);
        Assert.True(clean.ExitCode == 0, clean.Stderr);

        // The nodes inherit the variable: the coordinator corrupts its 5th frame with tensors (to
        // node-0), node-0 its own 5th (to node-1); each process once.
        var environment = new Dictionary<string, string> { [EnvironmentVariables.FaultFlipBit] = "5" };
        var flipped = CopalCli.Run(TimeSpan.FromMinutes(6), environment, [.. ResumeTests.Run, "--out", dir.File("flipped"), "--nodes", "2", "--node-timeout", "60", "--log-level", "Debug"]);

        Assert.True(flipped.ExitCode == 0, flipped.Stderr);
        var lines = flipped.Stderr.Split('\n');
        Assert.Equal(2, lines.Count(l => l.Contains("flipping one bit", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.Contains("[node-0]", StringComparison.Ordinal) && l.Contains("is corrupted", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("[node-1]", StringComparison.Ordinal) && l.Contains("is corrupted", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("failed on attempt 1", StringComparison.Ordinal));
        ResumeTests.AssertSameCheckpoints(dir.File("clean"), dir.File("flipped"));
    }
}
