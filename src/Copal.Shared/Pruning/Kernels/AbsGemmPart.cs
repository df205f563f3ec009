namespace Copal.Pruning.Kernels;

/// <summary>One output of an <see cref="AbsGemm"/> call as the native kernels see it: A's data, its columns M, and C's data.</summary>
internal readonly record struct AbsGemmPart(IntPtr A, int M, IntPtr C);
