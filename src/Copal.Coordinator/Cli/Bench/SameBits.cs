namespace Copal.Coordinator.Cli.Bench;

/// <summary>
/// Every configuration the bench runs one stage in (one process, nodes, TLS, pinned cores) must
/// write the same tensors, bit for bit; the first configuration checked is the reference.
/// </summary>
public sealed class SameBits(string stage)
{
    private (string Configuration, IReadOnlyDictionary<string, string> Digests)? reference;

    public void Check(string configuration, IReadOnlyDictionary<string, string> digests)
    {
        if (digests.Count == 0)
        {
            throw new NotBitIdenticalException($"{stage}: {configuration} wrote no tensors");
        }

        if (reference is not { } first)
        {
            reference = (configuration, digests);
            return;
        }

        var differing = first.Digests.Keys.Union(digests.Keys)
            .Where(name => !(first.Digests.TryGetValue(name, out var a) && digests.TryGetValue(name, out var b) && a == b))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (differing.Count > 0)
        {
            throw new NotBitIdenticalException($"{stage}: {configuration} wrote {differing.Count} tensors differently from {first.Configuration} (first {differing[0]})");
        }
    }
}
