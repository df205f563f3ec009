using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace Copal.Pruning.Kernels;

/// <summary>
/// The COPAL importance accumulation C_j += |A_j|^T |X| for the linears that share one input X
/// [tokens, in] (A_j [tokens, out_j], C_j [out_j, in] float32, contiguous): one GEMM per shared
/// input and micro-batch, on the kernel that suits the CPU and the operands. With bfloat16
/// operands on CPUs with AMX it calls MKL's bfloat16 GEMM (<see cref="AbsGemmBf16"/>), which sums
/// in float32 straight into C. Otherwise it works in float32: on CPUs with AVX-512 other than
/// Intel's it runs its own blocked kernel (<see cref="AbsGemmAvx512"/>), because libtorch's float32
/// GEMM (MKL) stays on AVX2 on AMD processors. Elsewhere (no AVX-512, CUDA) and on Intel CPUs
/// (see <see cref="Float32Kernel"/>) it uses addmm_. docs/kernels.md says when each path is chosen.
/// </summary>
public static class AbsGemm
{
    /// <summary>Which code computes the product.</summary>
    public enum Implementation
    {
        /// <summary>The own AVX-512 kernel (where AVX-512 is missing, torch).</summary>
        Own,

        /// <summary>libtorch's addmm_ on |A|^T and |X| (MKL on x86 CPUs).</summary>
        Torch,

        /// <summary>
        /// MKL's bfloat16 GEMM (cblas_gemm_bf16bf16f32, exported by libtorch_cpu): |A| and |X|
        /// rounded to bfloat16, products summed in float32 straight into C.
        /// </summary>
        Bf16,
    }

    /// <summary>
    /// The faster float32 kernel here: the own one with AVX-512 on CPUs other than Intel's; on
    /// Intel's, MKL runs AVX-512 code itself and measured faster.
    /// </summary>
    public static Implementation Float32Kernel { get; } = Avx512F.IsSupported && !CpuFeatures.IsIntel() ? Implementation.Own : Implementation.Torch;

    /// <summary>
    /// True where MKL's bfloat16 GEMM runs on AMX tiles and so beats the float32 kernels; elsewhere
    /// (AVX512-BF16 alone measured slower than the float32 kernels) bfloat16 operands are widened.
    /// </summary>
    private static bool FastBFloat16 { get; } = CpuFeatures.HasAmxBFloat16();

    /// <summary>
    /// For each j: outputs[j].C += |outputs[j].A|^T |x| with operands of the given precision (or
    /// bfloat16 ones as they come), on the fastest kernel for them here.
    /// </summary>
    public static void Accumulate(Tensor x, IReadOnlyList<(Tensor A, Tensor C)> outputs, ImportancePrecision precision)
    {
        if ((precision == ImportancePrecision.BFloat16 || x.dtype == ScalarType.BFloat16) && FastBFloat16)
        {
            Accumulate(x, outputs, Implementation.Bf16);
        }
        else if (precision == ImportancePrecision.BFloat16)
        {
            AccumulateConverted(x, outputs, ScalarType.BFloat16, Float32Kernel);
        }
        else
        {
            Accumulate(x, outputs, Float32Kernel);
        }
    }

    /// <summary>For each j: outputs[j].C += |outputs[j].A|^T |x|.</summary>
    public static void Accumulate(Tensor x, IReadOnlyList<(Tensor A, Tensor C)> outputs, Implementation kernel)
    {
        if (outputs.Count == 0 || x.shape[0] == 0)
        {
            return;
        }

        if (kernel == Implementation.Bf16)
        {
            if (x.device_type == DeviceType.CPU)
            {
                AbsGemmBf16.Accumulate(x, outputs);
                return;
            }

            // Elsewhere (CUDA) the same rounding, then torch.
            AccumulateConverted(x, outputs, ScalarType.BFloat16, Implementation.Torch);
            return;
        }

        // The float32 kernels widen other operands (bfloat16) first, which is exact.
        if (x.dtype != ScalarType.Float32 || outputs.Any(o => o.A.dtype != ScalarType.Float32))
        {
            AccumulateConverted(x, outputs, ScalarType.Float32, kernel);
            return;
        }

        if (kernel == Implementation.Torch || !AbsGemmAvx512.Supports(x, outputs))
        {
            AccumulateTorch(x, outputs);
            return;
        }

        AbsGemmAvx512.Accumulate(x, outputs);
    }

    /// <summary>addmm_ on |A|^T and |X|, |X| taken once for every output.</summary>
    private static void AccumulateTorch(Tensor x, IReadOnlyList<(Tensor A, Tensor C)> outputs)
    {
        using var shared = NewDisposeScope();
        var absX = x.abs();
        foreach (var (a, c) in outputs)
        {
            using var scope = NewDisposeScope();
            c.addmm_(a.abs().t(), absX);
        }
    }

    /// <summary>The same accumulation on operands converted to <paramref name="dtype"/>.</summary>
    private static void AccumulateConverted(Tensor x, IReadOnlyList<(Tensor A, Tensor C)> outputs, ScalarType dtype, Implementation kernel)
    {
        using var scope = NewDisposeScope();
        Accumulate(x.to_type(dtype), outputs.Select(o => (o.A.to_type(dtype), o.C)).ToList(), kernel);
    }
}
