using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Copal.Nn;
using TorchSharp;
using static TorchSharp.torch;
using Copal.Model;

namespace Copal.Pruning;

/// <summary>
/// The COPAL importance accumulation C_j += |A_j|^T |X| for the linears that share one input X
/// [tokens, in] (A_j [tokens, out_j], C_j [out_j, in] float32, contiguous): one GEMM per shared
/// input and micro-batch. With bfloat16 operands on CPUs with AMX it calls MKL's bfloat16 GEMM,
/// which sums in float32 straight into C. Otherwise it works in float32: on CPUs with AVX-512 it
/// runs its own blocked kernel, which takes the absolute values while packing (no |X| or |A|
/// tensors) and adds into C in place; libtorch's float32 GEMM (MKL) stays on AVX2 on AMD
/// processors and reaches about half the rate. |X| is packed once per call (threads split it);
/// then threads take row blocks of the C_j as they free up, so a core slowed by other work does
/// not hold the other back. Each element of C is summed in a fixed order (token chunks of at most
/// <see cref="MaxChunk"/>, ascending, each summed in a register before it is added) whatever the
/// number of threads, so results are reproducible bit for bit. Elsewhere (no AVX-512, CUDA) and
/// on Intel CPUs (see <see cref="Float32Kernel"/>) it uses addmm_.
/// </summary>
public static unsafe partial class AbsGemm
{
    private const int Mr = 8;
    private const int Nr = 32;
    private const int Mc = 64;

    /// <summary>Tokens per chunk at most: a packed B panel (Nr columns) stays within the L2 cache.</summary>
    private const int MaxChunk = 2048;

    /// <summary>Packed |X| is built for this many floats at most (16 MB, within the L3 cache).</summary>
    private const long MaxPackedB = 4L << 20;

    [ThreadStatic]
    private static Buffer? packedA;

    [ThreadStatic]
    private static Buffer? packedB;

    /// <summary>Which code computes the product.</summary>
    public enum Implementation
    {
        /// <summary>This class's AVX-512 kernel (where AVX-512 is missing, torch).</summary>
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
    /// Intel's, MKL runs AVX-512 code itself and measured faster (0.89 of a plain matmul against 0.76).
    /// </summary>
    public static Implementation Float32Kernel { get; } = Avx512F.IsSupported && !IsIntel() ? Implementation.Own : Implementation.Torch;

    /// <summary>
    /// True where MKL's bfloat16 GEMM runs on AMX tiles and so beats the float32 kernels; elsewhere
    /// (measured on AMD with AVX512-BF16: half the own kernel's rate) bfloat16 operands are widened.
    /// </summary>
    private static bool FastBFloat16 { get; } = HasAmxBFloat16();

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
                AccumulateBf16(x, outputs);
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

        if (kernel == Implementation.Torch || !Avx512F.IsSupported
            || !outputs.All(o => Fits(o.A, x.shape[0]) && Fits(o.C, o.A.shape[1]) && o.C.shape[1] == x.shape[1]) || !Fits(x, x.shape[0]))
        {
            using var shared = NewDisposeScope();
            var absX = x.abs();
            foreach (var (a, c) in outputs)
            {
                using var scope = NewDisposeScope();
                c.addmm_(a.abs().t(), absX);
            }

            return;
        }

        var k = (int)x.shape[0];
        var n = (int)x.shape[1];
        var b = (float*)TensorMemory.Address(x);
        var parts = outputs.Select(o => new Part(TensorMemory.Address(o.A), (int)o.A.shape[1], TensorMemory.Address(o.C))).ToArray();
        var tiles = parts.SelectMany((p, j) => Enumerable.Range(0, (p.M + Mc - 1) / Mc).Select(i => (Part: j, Row: i * Mc))).ToArray();
        var panels = (n + Nr - 1) / Nr;

        // Small products are not worth a second thread.
        var work = 2.0 * k * n * parts.Sum(p => (double)p.M);
        var threads = work < 1 << 24 ? 1 : Math.Max(1, get_num_threads());
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };

        // Tokens per chunk: at most MaxChunk, and the packed |X| within MaxPackedB.
        var chunk = (int)Math.Min(k, Math.Clamp(MaxPackedB / ((long)panels * Nr) / 64 * 64, 64, MaxChunk));
        packedB ??= new Buffer();
        var bPacked = packedB.Get((long)chunk * panels * Nr);
        for (var k0 = 0; k0 < k; k0 += chunk)
        {
            var kb = Math.Min(chunk, k - k0);
            var rows = b + ((long)k0 * n);
            if (threads == 1)
            {
                PackB(rows, n, bPacked, kb, 0, panels);
            }
            else
            {
                Parallel.For(0, threads, options, t => PackB(rows, n, bPacked, kb, t * panels / threads, (t + 1) * panels / threads));
            }

            void Tile(int i)
            {
                var (j, row) = tiles[i];
                var part = parts[j];
                var mc = Math.Min(Mc, part.M - row);
                packedA ??= new Buffer();
                var aPacked = packedA.Get((long)kb * Mc);
                var tile = stackalloc float[Mr * Nr];

                // Every C tile takes all kb tokens in one kernel call: C is read and written once per chunk.
                PackA((float*)part.A + ((long)k0 * part.M) + row, part.M, aPacked, kb, mc);
                Block(aPacked, bPacked, (long)kb * Nr, (float*)part.C + ((long)row * n), n, kb, mc, n, tile);
            }

            if (threads == 1)
            {
                for (var i = 0; i < tiles.Length; i++)
                {
                    Tile(i);
                }
            }
            else
            {
                Parallel.For(0, tiles.Length, options, Tile);
            }
        }
    }

    /// <summary>
    /// MKL threads itself differently for different thread counts, which would change the bits of C
    /// between a 1-thread node and a 2-thread process; so C is cut into fixed row blocks, each one
    /// single-threaded MKL call, and threads take blocks as they free up.
    /// </summary>
    private static void AccumulateBf16(Tensor x, IReadOnlyList<(Tensor A, Tensor C)> outputs)
    {
        if (!outputs.All(o => o.C.dtype == ScalarType.Float32 && o.C.is_contiguous() && o.C.shape[0] == o.A.shape[1] && o.C.shape[1] == x.shape[1]))
        {
            throw new ArgumentException("each C must be a contiguous float32 [out, in] tensor", nameof(outputs));
        }

        using var scope = NewDisposeScope();
        var k = (int)x.shape[0];
        var n = (int)x.shape[1];
        var b = (ushort*)TensorMemory.Address(Bf16Magnitude(x));
        var parts = outputs.Select(o => new Part(TensorMemory.Address(Bf16Magnitude(o.A)), (int)o.A.shape[1], TensorMemory.Address(o.C))).ToArray();
        var blocks = parts.SelectMany(p => Enumerable.Range(0, (p.M + Bf16Rows - 1) / Bf16Rows).Select(i => (Part: p, Row: i * Bf16Rows))).ToArray();
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, get_num_threads()) };
        Parallel.For(
            0,
            blocks.Length,
            options,
            () => SetLocalThreads(1),
            (i, _, previous) =>
            {
                var (part, row) = blocks[i];
                var rows = Math.Min(Bf16Rows, part.M - row);
                GemmBf16(RowMajor, Transposed, NotTransposed, rows, n, k, 1f, (ushort*)part.A + row, part.M, b, n, 1f, (float*)part.C + ((long)row * n), n);
                return previous;
            },
            previous => SetLocalThreads(previous));
    }

    private static Tensor Bf16Magnitude(Tensor t) =>
        (t.dtype == ScalarType.BFloat16 ? t.abs() : t.to_type(ScalarType.BFloat16).abs_()).contiguous();

    private const int RowMajor = 101;
    private const int NotTransposed = 111;
    private const int Transposed = 112;

    /// <summary>Rows of C per MKL call in the bfloat16 path.</summary>
    private const int Bf16Rows = 128;

    [LibraryImport("torch_cpu", EntryPoint = "MKL_Set_Num_Threads_Local")]
    private static partial int SetLocalThreads(int threads);

    [LibraryImport("torch_cpu", EntryPoint = "cblas_gemm_bf16bf16f32")]
    private static partial void GemmBf16(int layout, int transA, int transB, int m, int n, int k, float alpha, ushort* a, int lda, ushort* b, int ldb, float beta, float* c, int ldc);

    /// <summary>The same accumulation on operands converted to <paramref name="dtype"/>.</summary>
    private static void AccumulateConverted(Tensor x, IReadOnlyList<(Tensor A, Tensor C)> outputs, ScalarType dtype, Implementation kernel)
    {
        using var scope = NewDisposeScope();
        Accumulate(x.to_type(dtype), outputs.Select(o => (o.A.to_type(dtype), o.C)).ToList(), kernel);
    }

    private readonly record struct Part(IntPtr A, int M, IntPtr C);

    private static bool Fits(Tensor t, long rows) =>
        TensorMemory.IsContiguousCpu(t, ScalarType.Float32) && t.dim() == 2 && t.shape[0] == rows
        && t.numel() * sizeof(float) <= int.MaxValue;

    private static bool IsIntel()
    {
        if (!X86Base.IsSupported)
        {
            return false;
        }

        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        return (ebx, edx, ecx) == (0x756e6547, 0x49656e69, 0x6c65746e); // "Genu" "ineI" "ntel"
    }

    private static bool HasAmxBFloat16() => X86Base.IsSupported && (X86Base.CpuId(7, 0).Edx & (1 << 22)) != 0;

    /// <summary>
    /// One row block of C [mc, n] += packed A^T x packed B over kc tokens. B panel p (Nr columns)
    /// starts at <paramref name="b"/> + p * <paramref name="panelStride"/>.
    /// </summary>
    private static void Block(float* packedA, float* b, long panelStride, float* c, int ldc, int kc, int mc, int nc, float* tile)
    {
        for (var jr = 0; jr < nc; jr += Nr)
        {
            var nr = Math.Min(Nr, nc - jr);
            var panel = b + (jr / Nr * panelStride);
            for (var ir = 0; ir < mc; ir += Mr)
            {
                var mr = Math.Min(Mr, mc - ir);
                var target = c + ((long)ir * ldc) + jr;
                if (mr == Mr && nr == Nr)
                {
                    Kernel(packedA + (ir * kc), panel, target, ldc, kc);
                    continue;
                }

                // An edge tile: computed whole on zero padding, then only its valid part is added.
                new Span<float>(tile, Mr * Nr).Clear();
                Kernel(packedA + (ir * kc), panel, tile, Nr, kc);
                for (var i = 0; i < mr; i++)
                {
                    for (var j = 0; j < nr; j++)
                    {
                        target[((long)i * ldc) + j] += tile[(i * Nr) + j];
                    }
                }
            }
        }
    }

    /// <summary>|B| rows 0..kb of panels [first, last) (Nr columns each), panel p at packed + p * kb * Nr as [kb][Nr], zero-padded.</summary>
    private static void PackB(float* b, int ldb, float* packed, int kb, int first, int last)
    {
        var magnitude = Vector512.Create(0x7fffffff).AsSingle();
        for (var p = first; p < last; p++)
        {
            var jr = p * Nr;
            var nr = Math.Min(Nr, ldb - jr);
            var panel = packed + ((long)p * kb * Nr);
            for (var k = 0; k < kb; k++)
            {
                var source = b + ((long)k * ldb) + jr;
                var target = panel + ((long)k * Nr);
                if (nr == Nr)
                {
                    Vector512.Store(Vector512.Load(source) & magnitude, target);
                    Vector512.Store(Vector512.Load(source + 16) & magnitude, target + 16);
                }
                else
                {
                    for (var j = 0; j < Nr; j++)
                    {
                        target[j] = j < nr ? MathF.Abs(source[j]) : 0f;
                    }
                }
            }
        }
    }

    /// <summary>A native, 64-byte aligned float buffer that grows as needed and lives as long as its thread.</summary>
    private sealed class Buffer
    {
        private float* data;
        private long capacity;

        ~Buffer() => NativeMemory.AlignedFree(data);

        public float* Get(long floats)
        {
            if (floats > capacity)
            {
                NativeMemory.AlignedFree(data);
                data = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
                capacity = floats;
            }

            return data;
        }
    }

    /// <summary>|A| rows pc.., columns ic.. as panels of Mr columns: [kc][Mr] each, zero-padded.</summary>
    private static void PackA(float* a, int lda, float* packed, int kc, int mc)
    {
        var magnitude = Vector256.Create(0x7fffffff).AsSingle();
        for (var ir = 0; ir < mc; ir += Mr)
        {
            var mr = Math.Min(Mr, mc - ir);
            var panel = packed + (ir * kc);
            for (var k = 0; k < kc; k++)
            {
                var source = a + ((long)k * lda) + ir;
                var target = panel + (k * Mr);
                if (mr == Mr)
                {
                    Vector256.Store(Vector256.Load(source) & magnitude, target);
                }
                else
                {
                    for (var i = 0; i < Mr; i++)
                    {
                        target[i] = i < mr ? MathF.Abs(source[i]) : 0f;
                    }
                }
            }
        }
    }

    /// <summary>C[Mr, Nr] += packed A panel^T x packed B panel, over kc tokens, in 16 AVX-512 accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel(float* a, float* b, float* c, int ldc, int kc)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        for (var k = 0; k < kc; k++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var a0 = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00);
            c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector512.Create(a[1]);
            c10 = Avx512F.FusedMultiplyAdd(a1, b0, c10);
            c11 = Avx512F.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector512.Create(a[2]);
            c20 = Avx512F.FusedMultiplyAdd(a2, b0, c20);
            c21 = Avx512F.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector512.Create(a[3]);
            c30 = Avx512F.FusedMultiplyAdd(a3, b0, c30);
            c31 = Avx512F.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector512.Create(a[4]);
            c40 = Avx512F.FusedMultiplyAdd(a4, b0, c40);
            c41 = Avx512F.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector512.Create(a[5]);
            c50 = Avx512F.FusedMultiplyAdd(a5, b0, c50);
            c51 = Avx512F.FusedMultiplyAdd(a5, b1, c51);
            var a6 = Vector512.Create(a[6]);
            c60 = Avx512F.FusedMultiplyAdd(a6, b0, c60);
            c61 = Avx512F.FusedMultiplyAdd(a6, b1, c61);
            var a7 = Vector512.Create(a[7]);
            c70 = Avx512F.FusedMultiplyAdd(a7, b0, c70);
            c71 = Avx512F.FusedMultiplyAdd(a7, b1, c71);
            a += Mr;
            b += Nr;
        }

        AddRow(c, c00, c01);
        AddRow(c + ldc, c10, c11);
        AddRow(c + (2 * ldc), c20, c21);
        AddRow(c + (3 * ldc), c30, c31);
        AddRow(c + (4 * ldc), c40, c41);
        AddRow(c + (5 * ldc), c50, c51);
        AddRow(c + (6 * ldc), c60, c61);
        AddRow(c + (7 * ldc), c70, c71);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRow(float* c, Vector512<float> left, Vector512<float> right)
    {
        Vector512.Store(Vector512.Load(c) + left, c);
        Vector512.Store(Vector512.Load(c + 16) + right, c + 16);
    }
}
