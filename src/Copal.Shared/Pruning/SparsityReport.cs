using static TorchSharp.torch;

namespace Copal.Pruning;

/// <summary>Zeros counted in the pruned linears: per linear and overall.</summary>
public sealed class SparsityReport
{
    private readonly List<(string Name, long Zeros, long Count)> linears = new();

    public IReadOnlyList<(string Name, long Zeros, long Count)> Linears => linears;

    public double Overall => linears.Sum(l => l.Count) == 0 ? 0 : (double)linears.Sum(l => l.Zeros) / linears.Sum(l => l.Count);

    public void Count(string name, Tensor weight)
    {
        using var zeros = weight.eq(0).sum();
        linears.Add((name, zeros.item<long>(), weight.numel()));
    }

    public void Add(SparsityReport other) => linears.AddRange(other.linears);
}
