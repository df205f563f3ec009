namespace Copal.Coordinator.Cli.Bench;

/// <summary>The dimensions of a generated LLaMA checkpoint (multi-head attention, untied lm_head).</summary>
public sealed record ModelShape(int Hidden, int Intermediate, int Layers, int Heads, int Vocab, int Positions)
{
    /// <summary>LLaMA-7B: 6.7 billion parameters, 13 GB in BF16.</summary>
    public static ModelShape Llama7B { get; } = new(4096, 11008, 32, 32, 32000, 2048);

    /// <summary>Weights of the seven linears of one decoder layer.</summary>
    public long LinearWeightsPerLayer => (4L * Hidden * Hidden) + (3L * Hidden * Intermediate);

    /// <summary>Every stored parameter.</summary>
    public long Parameters => (Layers * (LinearWeightsPerLayer + (2L * Hidden))) + Hidden + (2L * Vocab * Hidden);

    public override string ToString() => $"hidden {Hidden}, intermediate {Intermediate}, {Layers} layers, {Heads} heads, vocab {Vocab}, {Positions} positions";
}
