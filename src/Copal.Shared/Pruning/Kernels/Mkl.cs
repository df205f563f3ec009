using System.Runtime.InteropServices;

namespace Copal.Pruning.Kernels;

/// <summary>The MKL entry points Copal calls directly, as libtorch_cpu exports them.</summary>
internal static unsafe partial class Mkl
{
    public const int RowMajor = 101;
    public const int NotTransposed = 111;
    public const int Transposed = 112;

    /// <summary>Sets the MKL threads of the calling thread; returns the previous setting.</summary>
    [LibraryImport("torch_cpu", EntryPoint = "MKL_Set_Num_Threads_Local")]
    public static partial int SetLocalThreads(int threads);

    /// <summary>C = alpha op(A) op(B) + beta C on bfloat16 A and B, summed in float32.</summary>
    [LibraryImport("torch_cpu", EntryPoint = "cblas_gemm_bf16bf16f32")]
    public static partial void GemmBf16(int layout, int transA, int transB, int m, int n, int k, float alpha, ushort* a, int lda, ushort* b, int ldb, float beta, float* c, int ldc);
}
