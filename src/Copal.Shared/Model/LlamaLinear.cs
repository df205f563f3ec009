namespace Copal.Model;

/// <summary>One of the seven linears of a decoder layer: the units that get pruned.</summary>
public sealed record LlamaLinear(int Index, string Module)
{
    public static readonly LlamaLinear Q = new(0, "self_attn.q_proj");
    public static readonly LlamaLinear K = new(1, "self_attn.k_proj");
    public static readonly LlamaLinear V = new(2, "self_attn.v_proj");
    public static readonly LlamaLinear O = new(3, "self_attn.o_proj");
    public static readonly LlamaLinear Gate = new(4, "mlp.gate_proj");
    public static readonly LlamaLinear Up = new(5, "mlp.up_proj");
    public static readonly LlamaLinear Down = new(6, "mlp.down_proj");

    public static IReadOnlyList<LlamaLinear> All { get; } = [Q, K, V, O, Gate, Up, Down];

    /// <summary>The linears grouped by the input they read, in forward order.</summary>
    public static IReadOnlyList<IReadOnlyList<LlamaLinear>> SharedInputs { get; } = [[Q, K, V], [O], [Gate, Up], [Down]];

    /// <summary>q/k/v/o_proj (attention_bias governs their biases) rather than the MLP's (mlp_bias).</summary>
    public bool InAttention => Index <= O.Index;

    /// <summary>[out_features, in_features], as stored.</summary>
    public long[] Shape(LlamaConfig c) => Index switch
    {
        0 => [c.NumAttentionHeads * c.HeadDim, c.HiddenSize],
        1 or 2 => [c.NumKeyValueHeads * c.HeadDim, c.HiddenSize],
        3 => [c.HiddenSize, c.NumAttentionHeads * c.HeadDim],
        4 or 5 => [c.IntermediateSize, c.HiddenSize],
        _ => [c.HiddenSize, c.IntermediateSize],
    };

    public override string ToString() => Module;
}
