using Copal.Data;

namespace Copal.Pruning;

public enum PruningMethod
{
    Magnitude,
    Wanda,
    SparseGpt,
    Copal,
}

/// <summary>How the stages of a dataset sequence relate (protocol: continual strategies).</summary>
public enum Strategy
{
    /// <summary>Prune the dense weights with importance accumulated over D1..Di.</summary>
    Copal,

    /// <summary>Prune the dense weights using Di alone.</summary>
    Reset,

    /// <summary>Prune the previous stage's pruned weights using Di alone.</summary>
    Sequential,
}

/// <summary>Where each layer's calibration inputs come from.</summary>
public enum Propagation
{
    /// <summary>From the dense model: one pass, all layers calibrated at once.</summary>
    Dense,

    /// <summary>From the already pruned earlier layers, layer by layer (Wanda/SparseGPT).</summary>
    Pruned,
}

public enum PerturbationModel
{
    /// <summary>dW = eps W, dx = eps x: dy = 2 eps y, so W* += |W| . (|Y|^T |X|).</summary>
    Relative,

    /// <summary>dW = E |W| . xi, dx = E |x| . zeta with seeded standard normals.</summary>
    Gaussian,
}

public sealed record Perturbation(PerturbationModel Model, double Epsilon, long Seed)
{
    public static Perturbation Relative { get; } = new(PerturbationModel.Relative, 0, 0);
}

/// <summary>
/// Precision of the operands |Y| and |X| of COPAL's importance GEMM; the sums are float32 either
/// way. bfloat16 rounds each operand to 8 significant bits and moves the goldens' backward
/// transfer, so float32 is the default; bfloat16 is faster where the CPU has AMX (docs/performance.md).
/// </summary>
public enum ImportancePrecision
{
    Float32,
    BFloat16,
}

/// <summary>Everything that decides the numbers of a continual pruning run.</summary>
public sealed record PruningSettings
{
    public required PruningMethod Method { get; init; }

    public required Strategy Strategy { get; init; }

    public required Propagation Propagation { get; init; }

    public required MaskPolicy Mask { get; init; }

    public required int Samples { get; init; }

    public required int SeqLen { get; init; }

    public SamplingMode Sampling { get; init; } = SamplingMode.Even;

    public long SamplingSeed { get; init; }

    public Perturbation Perturbation { get; init; } = Perturbation.Relative;

    public int? EvalWindows { get; init; }

    public ImportancePrecision ImportancePrecision { get; init; } = ImportancePrecision.Float32;

    /// <summary>Refuses settings no run can use, naming the faulty one as <paramref name="names"/> calls it.</summary>
    public void Check(SettingNames names)
    {
        Mask.Pattern?.Check(names.Pattern);
        if (!(Mask.Sparsity > 0 && Mask.Sparsity < 1))
        {
            throw new CopalInputException($"{names.Sparsity} must be in (0, 1), got {Mask.Sparsity}");
        }

        // A pattern decides the masks alone; a sparsity other than its own would be reported but not applied.
        if (Mask.Pattern is { } p && Mask.Sparsity != (double)p.N / p.M)
        {
            throw new CopalInputException($"{names.Sparsity} {Mask.Sparsity} is not the sparsity of {names.Pattern} {p}");
        }

        // run.json holds the group a pattern ignores too: only one other than the method's default was asked for.
        CheckGroupApplies(Mask.Pattern, Mask.Group, groupGiven: Mask.Group != Metrics.Metrics.Describe(Method).DefaultGroup, names);
        InputChecks.AtLeast(Samples, 1, names.Samples);

        // The sampler holds a dataset's calibration windows as one array of token ids.
        var tokenIds = (long)Samples * SeqLen;
        if (tokenIds > Array.MaxLength)
        {
            throw new CopalInputException($"{names.Samples} {Samples} of {names.SeqLen} {SeqLen} tokens make {tokenIds} token ids, more than one array holds ({Array.MaxLength})");
        }

        if (EvalWindows is { } windows)
        {
            InputChecks.AtLeast(windows, 1, names.EvalWindows);
        }

        // A relative perturbation carries epsilon 0: any other value was given for nothing.
        CheckEpsilonApplies(Perturbation.Model, Perturbation.Epsilon, epsilonGiven: Perturbation.Epsilon != 0, names);
        if (Perturbation.Model == PerturbationModel.Gaussian && !(double.IsFinite(Perturbation.Epsilon) && Perturbation.Epsilon > 0))
        {
            throw new CopalInputException($"{names.Epsilon} must be positive and finite, got {Perturbation.Epsilon}");
        }
    }

    /// <summary>Refuses the whole-matrix group, when it was asked for, with an N:M pattern: N:M chooses within groups of M weights of a row, so the group would be ignored.</summary>
    public static void CheckGroupApplies(NmPattern? pattern, MaskGroup group, bool groupGiven, SettingNames names)
    {
        if (pattern is { } p && group == MaskGroup.Matrix && groupGiven)
        {
            throw new CopalInputException($"{names.Group} matrix does not apply to {names.Pattern} {p}, which chooses within groups of {p.M} weights of a row");
        }
    }

    /// <summary>Refuses an epsilon given for a perturbation other than gaussian, which has none and would ignore it.</summary>
    public static void CheckEpsilonApplies(PerturbationModel model, double epsilon, bool epsilonGiven, SettingNames names)
    {
        if (epsilonGiven && model != PerturbationModel.Gaussian)
        {
            throw new CopalInputException($"{names.Epsilon} applies only to {names.Perturbation} gaussian, got {names.Epsilon} {epsilon} with {model.ToString().ToLowerInvariant()}");
        }
    }

    /// <summary>The precision a run of <paramref name="method"/> uses when <paramref name="requested"/> is asked for: only an importance GEMM has operands to round.</summary>
    public static ImportancePrecision PrecisionFor(PruningMethod method, ImportancePrecision requested) =>
        Metrics.Metrics.Describe(method).HasImportanceGemm ? requested : ImportancePrecision.Float32;
}
