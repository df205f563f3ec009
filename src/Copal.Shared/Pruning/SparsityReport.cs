using static TorchSharp.torch;

namespace Copal.Pruning;

/// <summary>Zeros counted in one pruned linear.</summary>
public sealed record LinearSparsity(string Name, long Zeros, long Count);

/// <summary>Zeros counted in the pruned linears: per linear and overall.</summary>
public sealed class SparsityReport
{
    private readonly List<LinearSparsity> linears = new();

    public IReadOnlyList<LinearSparsity> Linears => linears;

    public double Overall => linears.Sum(l => l.Count) == 0 ? 0 : (double)linears.Sum(l => l.Zeros) / linears.Sum(l => l.Count);

    public void Count(string name, Tensor weight)
    {
        linears.Add(new LinearSparsity(name, ZeroCount.Of(weight), weight.numel()));
    }

    public void Add(IEnumerable<LinearSparsity> other) => linears.AddRange(other);
}
