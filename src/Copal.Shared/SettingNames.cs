namespace Copal;

/// <summary>What the checks of a run's settings call each one: the option that sets it, or its field in run.json.</summary>
public sealed record SettingNames(string Sparsity, string Pattern, string Group, string Samples, string SeqLen, string EvalWindows, string Perturbation, string Epsilon, string BatchSize, string DType);
