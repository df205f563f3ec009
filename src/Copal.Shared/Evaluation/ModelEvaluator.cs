using Copal.Data;
using Copal.Model;
using Copal.Tokenization;

namespace Copal.Evaluation;

/// <summary>Perplexity of every requested dataset's test split, for one set of layer weights.</summary>
public sealed class ModelEvaluator
{
    private readonly LlamaModel model;
    private readonly DataDirectory data;
    private readonly ITokenizer tokenizer;
    private readonly Dictionary<string, int[]> testTokens = new();

    public ModelEvaluator(LlamaModel model, DataDirectory data, ITokenizer tokenizer, int seqLen, int? evalWindows, ComputeOptions compute)
    {
        this.model = model;
        this.data = data;
        this.tokenizer = tokenizer;
        SeqLen = seqLen;
        EvalWindows = evalWindows;
        Compute = compute;
    }

    public int SeqLen { get; }

    public int? EvalWindows { get; }

    public ComputeOptions Compute { get; }

    /// <param name="progress">Told how much of the split file has been read.</param>
    public int[] TestTokens(string dataset, IProgress<WorkProgress>? progress = null)
    {
        if (!testTokens.TryGetValue(dataset, out var tokens))
        {
            tokens = TokenStream.Load(data, dataset, Split.Test, tokenizer, progress);
            testTokens[dataset] = tokens;
        }

        return tokens;
    }

    /// <summary>Evaluates the model's own (dense) layers.</summary>
    public IReadOnlyList<PerplexityResult> Evaluate(IEnumerable<string> datasets, IProgress<WorkProgress>? progress = null)
    {
        using var layers = LayerSource.Open(model, checkpoint: null);
        return datasets.Select(d => Perplexity.Evaluate(d, TestTokens(d, progress), SeqLen, EvalWindows, model, layers, Compute, progress)).ToList();
    }

    /// <summary>Logits [T, V] (float32) of one token sequence through the model's own layers.</summary>
    public static TorchSharp.torch.Tensor Logits(LlamaModel model, long[] tokens, ComputeOptions compute)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var noGrad = TorchSharp.torch.no_grad();
        using var head = model.LoadHead(compute.DType);
        using var rope = new Nn.RotaryEmbedding(model.Config, tokens.Length, compute.DType);
        var ids = TorchSharp.torch.tensor(tokens, [1, tokens.Length]);
        var hidden = Nn.LayerwiseRunner.RunLayers(head.Embed(ids), Enumerable.Range(0, model.Config.NumHiddenLayers), l => model.LoadLayer(l, compute.DType), model.Config, rope, compute);
        return Nn.LlamaOps.Logits(hidden, head, model.Config)[0].to_type(TorchSharp.torch.ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>The protocol's default L: min(max_position_embeddings, 2048); a longer request is refused.</summary>
    public static int ResolveSeqLen(LlamaConfig config, int? requested) =>
        requested is { } l ? CheckSeqLen(config, l, "--seqlen") : Math.Min(config.MaxPositionEmbeddings, 2048);

    /// <summary>Refuses a sequence length the model cannot take, named as <paramref name="name"/>.</summary>
    public static int CheckSeqLen(LlamaConfig config, int seqLen, string name)
    {
        InputChecks.AtLeast(seqLen, 2, name);
        if (seqLen > config.MaxPositionEmbeddings)
        {
            throw new CopalInputException($"{name} {seqLen} exceeds the model's max_position_embeddings {config.MaxPositionEmbeddings}");
        }

        return seqLen;
    }
}
