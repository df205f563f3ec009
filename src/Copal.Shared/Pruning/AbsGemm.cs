using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace Copal.Pruning;

/// <summary>
/// The COPAL importance accumulation C_j += |A_j|^T |X| for the linears that share one input X
/// [tokens, in] (A_j [tokens, out_j], C_j [out_j, in], all float32): one GEMM per shared input
/// and micro-batch. On CPUs with AVX-512 it runs its own blocked kernel, which takes the absolute
/// values while packing (no |X| or |A| tensors) and adds into C in place; libtorch's float32 GEMM
/// (MKL) stays on AVX2 on AMD processors and reaches about half the rate. Each element of C is
/// summed in a fixed order (token blocks of <see cref="Kc"/>, ascending), whatever the number of
/// threads, so results are reproducible bit for bit. Elsewhere (no AVX-512, CUDA) it uses addmm_.
/// </summary>
public static unsafe class AbsGemm
{
    private const int Mr = 8;
    private const int Nr = 32;
    private const int Kc = 256;
    private const int Mc = 128;
    private const int Nc = 2048;

    /// <summary>True when the AVX-512 kernel runs on this machine.</summary>
    public static bool Accelerated => Avx512F.IsSupported;

    /// <summary>For each j: outputs[j].C += |outputs[j].A|^T |x|.</summary>
    public static void Accumulate(Tensor x, IReadOnlyList<(Tensor A, Tensor C)> outputs)
    {
        if (outputs.Count == 0 || x.shape[0] == 0)
        {
            return;
        }

        if (!outputs.All(o => Fits(o.A, x.shape[0]) && Fits(o.C, o.A.shape[1]) && o.C.shape[1] == x.shape[1]) || !Fits(x, x.shape[0]))
        {
            foreach (var (a, c) in outputs)
            {
                using var scope = NewDisposeScope();
                c.addmm_(a.abs().t(), x.abs());
            }

            return;
        }

        var k = (int)x.shape[0];
        var n = (int)x.shape[1];
        var b = Pointer(x);
        var parts = outputs.Select(o => new Part(Pointer(o.A), (int)o.A.shape[1], Pointer(o.C))).ToArray();
        // Small products are not worth a second thread.
        var work = 2.0 * k * n * parts.Sum(p => (double)p.M);
        var threads = work < 1 << 24 ? 1 : Math.Max(1, Math.Min(get_num_threads(), n / Nr));
        if (threads == 1)
        {
            Run(b, n, parts, k, 0, n);
            return;
        }

        // Threads split the input features: each packs its own columns of X and computes its columns of every C.
        var width = ((n / threads) + Nr - 1) / Nr * Nr;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var first = t * width;
            var last = t == threads - 1 ? n : Math.Min(n, first + width);
            if (first < last)
            {
                Run(b, n, parts, k, first, last);
            }
        });
    }

    private readonly record struct Part(IntPtr A, int M, IntPtr C);

    /// <summary>Packing buffers, one pair per thread, kept for the thread's life (a few MB).</summary>
    private sealed class Buffers
    {
        public Buffers()
        {
            B = (float*)NativeMemory.AlignedAlloc((nuint)(Kc * Nc * sizeof(float)), 64);
            A = (float*)NativeMemory.AlignedAlloc((nuint)(Kc * Mc * sizeof(float)), 64);
        }

        ~Buffers()
        {
            NativeMemory.AlignedFree(B);
            NativeMemory.AlignedFree(A);
        }

        public float* B { get; }

        public float* A { get; }
    }

    [ThreadStatic]
    private static Buffers? buffers;

    private static bool Fits(Tensor t, long rows) =>
        Accelerated && t.device_type == DeviceType.CPU && t.dtype == ScalarType.Float32 && t.dim() == 2 && t.shape[0] == rows
        && t.is_contiguous() && t.numel() * sizeof(float) <= int.MaxValue;

    private static IntPtr Pointer(Tensor t) => (IntPtr)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    /// <summary>Columns [first, last) of every C, over all k tokens.</summary>
    private static void Run(IntPtr bPointer, int ldb, Part[] parts, int k, int first, int last)
    {
        var b = (float*)bPointer;
        buffers ??= new Buffers();
        var packedB = buffers.B;
        var packedA = buffers.A;
        var tile = stackalloc float[Mr * Nr];
        for (var jc = first; jc < last; jc += Nc)
        {
            var nc = Math.Min(Nc, last - jc);
            for (var pc = 0; pc < k; pc += Kc)
            {
                var kc = Math.Min(Kc, k - pc);
                PackB(b + ((long)pc * ldb) + jc, ldb, packedB, kc, nc);
                foreach (var part in parts)
                {
                    var a = (float*)part.A;
                    var c = (float*)part.C;
                    for (var ic = 0; ic < part.M; ic += Mc)
                    {
                        var mc = Math.Min(Mc, part.M - ic);
                        PackA(a + ((long)pc * part.M) + ic, part.M, packedA, kc, mc);
                        Block(packedA, packedB, c + ((long)ic * ldb) + jc, ldb, kc, mc, nc, tile);
                    }
                }
            }
        }
    }

    private static void Block(float* packedA, float* packedB, float* c, int ldc, int kc, int mc, int nc, float* tile)
    {
        for (var jr = 0; jr < nc; jr += Nr)
        {
            var nr = Math.Min(Nr, nc - jr);
            for (var ir = 0; ir < mc; ir += Mr)
            {
                var mr = Math.Min(Mr, mc - ir);
                var target = c + ((long)ir * ldc) + jr;
                if (mr == Mr && nr == Nr)
                {
                    Kernel(packedA + (ir * kc), packedB + (jr * kc), target, ldc, kc);
                    continue;
                }

                // An edge tile: computed whole on zero padding, then only its valid part is added.
                new Span<float>(tile, Mr * Nr).Clear();
                Kernel(packedA + (ir * kc), packedB + (jr * kc), tile, Nr, kc);
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

    /// <summary>|B| rows pc.., columns jc.. as panels of Nr columns: [kc][Nr] each, zero-padded.</summary>
    private static void PackB(float* b, int ldb, float* packed, int kc, int nc)
    {
        var magnitude = Vector512.Create(0x7fffffff).AsSingle();
        for (var jr = 0; jr < nc; jr += Nr)
        {
            var nr = Math.Min(Nr, nc - jr);
            var panel = packed + (jr * kc);
            for (var k = 0; k < kc; k++)
            {
                var source = b + ((long)k * ldb) + jr;
                var target = panel + (k * Nr);
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
