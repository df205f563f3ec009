using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Copal.Model;
using static TorchSharp.torch;

namespace Copal.Pruning.Kernels;

/// <summary>
/// <see cref="AbsGemm"/>'s own float32 kernel for CPUs with AVX-512: C_j += |A_j|^T |X|, blocked,
/// taking the absolute values while packing (no |X| or |A| tensors) and adding into C in place.
/// |X| is packed once per call (threads split it); then threads take row blocks of the C_j as they
/// free up, so a core slowed by other work does not hold the other back. Each element of C is
/// summed in a fixed order (token chunks of at most <see cref="MaxChunk"/>, ascending, each summed
/// in a register before it is added) whatever the number of threads, so results are reproducible
/// bit for bit.
/// </summary>
internal static unsafe class AbsGemmAvx512
{
    private const int Mr = 8;
    private const int Nr = 32;
    private const int Mc = 64;

    /// <summary>Tokens per chunk at most: a packed B panel (Nr columns) stays within the L2 cache.</summary>
    private const int MaxChunk = 2048;

    /// <summary>Packed |X| is built for this many floats at most (16 MB, within the L3 cache).</summary>
    private const long MaxPackedB = 4L << 20;

    [ThreadStatic]
    private static AlignedBuffer? packedA;

    [ThreadStatic]
    private static AlignedBuffer? packedB;

    /// <summary>AVX-512 is there and every operand is a contiguous float32 CPU matrix of the expected shape.</summary>
    public static bool Supports(Tensor x, IReadOnlyList<(Tensor A, Tensor C)> outputs) =>
        Avx512F.IsSupported
        && outputs.All(o => Fits(o.A, x.shape[0]) && Fits(o.C, o.A.shape[1]) && o.C.shape[1] == x.shape[1]) && Fits(x, x.shape[0]);

    /// <summary>For each j: outputs[j].C += |outputs[j].A|^T |x|; the operands are <see cref="Supports">supported</see>.</summary>
    public static void Accumulate(Tensor x, IReadOnlyList<(Tensor A, Tensor C)> outputs)
    {
        var k = (int)x.shape[0];
        var n = (int)x.shape[1];
        var b = (float*)TensorMemory.Address(x);
        var parts = outputs.Select(o => new AbsGemmPart(TensorMemory.Address(o.A), (int)o.A.shape[1], TensorMemory.Address(o.C))).ToArray();
        var tiles = parts.SelectMany((p, j) => Enumerable.Range(0, (p.M + Mc - 1) / Mc).Select(i => (Part: j, Row: i * Mc))).ToArray();
        var panels = (n + Nr - 1) / Nr;

        // Small products are not worth a second thread.
        var work = 2.0 * k * n * parts.Sum(p => (double)p.M);
        var threads = work < 1 << 24 ? 1 : Math.Max(1, get_num_threads());
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };

        // Tokens per chunk: at most MaxChunk, and the packed |X| within MaxPackedB.
        var chunk = (int)Math.Min(k, Math.Clamp(MaxPackedB / ((long)panels * Nr) / 64 * 64, 64, MaxChunk));
        packedB ??= new AlignedBuffer();
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
                packedA ??= new AlignedBuffer();
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

    private static bool Fits(Tensor t, long rows) =>
        TensorMemory.IsContiguousCpu(t, ScalarType.Float32) && t.dim() == 2 && t.shape[0] == rows
        && t.numel() * sizeof(float) <= int.MaxValue;

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
