using System.Runtime.Intrinsics.X86;

namespace Copal.Pruning.Kernels;

/// <summary>What CPUID says about the processor, where the choice of kernel depends on more than the instruction sets .NET reports.</summary>
internal static class CpuFeatures
{
    /// <summary>The vendor is Intel (MKL then picks its AVX-512 code itself).</summary>
    public static bool IsIntel()
    {
        if (!X86Base.IsSupported)
        {
            return false;
        }

        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        return (ebx, edx, ecx) == (0x756e6547, 0x49656e69, 0x6c65746e); // "Genu" "ineI" "ntel"
    }

    /// <summary>AMX with bfloat16 tiles (CPUID leaf 7, EDX bit 22).</summary>
    public static bool HasAmxBFloat16() => X86Base.IsSupported && (X86Base.CpuId(7, 0).Edx & (1 << 22)) != 0;
}
