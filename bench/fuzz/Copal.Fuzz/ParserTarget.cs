using System.Diagnostics;

namespace Copal.Fuzz;

/// <summary>
/// One parser that takes bytes from outside, as the fuzzer and the tests drive it: the input is
/// written where the parser looks for it, then parsed. Only the parser's typed input errors may
/// come out; anything else, a run over <see cref="TimeLimit"/>, or allocation beyond
/// <see cref="AllocationBudget"/> is a <see cref="FuzzFindingException"/>.
/// </summary>
/// <param name="Name">The name the script and the corpus folder use.</param>
/// <param name="FileName">Where in the scratch directory the parser finds the input.</param>
/// <param name="Parse">Parses the input (its bytes, and the file they were written to).</param>
/// <param name="Seeds">Valid inputs, written by the project's own writers where it has them.</param>
/// <param name="TypedErrors">The exceptions the parser documents for bad input.</param>
/// <param name="BytesPerInputByte">Managed bytes one input byte may justify (gzip: its decompression ratio).</param>
public sealed record ParserTarget(string Name, string FileName, Action<byte[], string> Parse, Func<IEnumerable<byte[]>> Seeds, Type[] TypedErrors, long BytesPerInputByte = 64)
{
    public static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(1);

    // Buffers every reader allocates whatever the input (stream and decoder buffers, JSON documents, Parquet's metadata).
    private const long FixedBudget = 16L << 20;

    public long AllocationBudget(int inputBytes) => FixedBudget + (BytesPerInputByte * inputBytes);

    /// <summary>Parses <paramref name="input"/> in this target's folder of <paramref name="scratch"/>; returns the typed error's message, or null when the input was accepted.</summary>
    public string? Run(byte[] input, string scratch)
    {
        var folder = Path.Combine(scratch, Name);
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, FileName);
        File.WriteAllBytes(path, input);

        // Process-wide: Parquet's async reads may allocate on pool threads.
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        string? refusal = null;
        try
        {
            Parse(input, path);
        }
        catch (Exception e) when (TypedErrors.Any(t => t.IsInstanceOfType(e)))
        {
            refusal = e.Message;
        }
        catch (Exception e)
        {
            throw new FuzzFindingException($"{Name}: untyped {e.GetType().Name} for a {input.Length}-byte input", e);
        }

        clock.Stop();
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        if (clock.Elapsed > TimeLimit)
        {
            throw new FuzzFindingException($"{Name}: a {input.Length}-byte input took {clock.Elapsed.TotalMilliseconds:F0} ms");
        }

        if (allocated > AllocationBudget(input.Length))
        {
            throw new FuzzFindingException($"{Name}: a {input.Length}-byte input allocated {allocated} bytes (budget {AllocationBudget(input.Length)})");
        }

        return refusal;
    }
}
