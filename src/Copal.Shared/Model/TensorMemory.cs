using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Copal.Model;

/// <summary>Where a CPU tensor's elements live, for native kernels, and how the kernel backs them.</summary>
public static unsafe partial class TensorMemory
{
    private const long HugePageBytes = 2 << 20;
    private const int MadviseHugePage = 14;

    /// <summary>Whether <paramref name="t"/> is a contiguous CPU tensor of <paramref name="dtype"/>: what native kernels read through <see cref="Address"/>.</summary>
    public static bool IsContiguousCpu(Tensor t, ScalarType dtype) =>
        t.device_type == DeviceType.CPU && t.dtype == dtype && t.is_contiguous();

    /// <summary>The address of the first element of a contiguous CPU tensor (zero when it has none).</summary>
    public static IntPtr Address(Tensor t)
    {
        if (t.numel() == 0)
        {
            return IntPtr.Zero;
        }

        // A span reaches 2 GB at most, so take the span of the first element alone.
        using var flat = t.view(-1);
        using var first = flat.narrow(0, 0, 1);
        return (IntPtr)Unsafe.AsPointer(ref MemoryMarshal.GetReference(first.bytes));
    }

    /// <summary>
    /// An uninitialised tensor for data about to be written into it whole (a checkpoint tensor being
    /// read or converted), backed by transparent huge pages where the kernel offers them. glibc
    /// maps such blocks fresh for every load, and in 4 kB pages each first write faults; advised, a
    /// fault maps 2 MB. Only these tensors are advised: libtorch's own switch (THP_MEM_ALLOC_ENABLE)
    /// advises every block of 2 MB or more and slows compute-bound stages (docs/performance.md).
    /// </summary>
    public static Tensor EmptyOnHugePages(ReadOnlySpan<long> shape, ScalarType dtype)
    {
        var t = empty(shape, dtype);
        var bytes = t.numel() * t.ElementSize;
        if (bytes >= HugePageBytes && OperatingSystem.IsLinux() && t.device_type == DeviceType.CPU)
        {
            long page = Environment.SystemPageSize;
            var start = Address(t);
            var first = ((long)start + page - 1) / page * page;
            var end = ((long)start + bytes) / page * page;

            // Only advice: where the kernel has no huge pages for us the memory keeps small pages.
            _ = Madvise((IntPtr)first, (nuint)(end - first), MadviseHugePage);
        }

        return t;
    }

    /// <summary>
    /// <paramref name="t"/> as a contiguous CPU tensor of <paramref name="dtype"/>: an alias when it is
    /// one already, else a copy converted as to_type would, on huge pages (a layer's weights being
    /// read or written).
    /// </summary>
    public static Tensor OnCpu(Tensor t, ScalarType dtype)
    {
        if (IsContiguousCpu(t, dtype))
        {
            return t.alias();
        }

        var converted = EmptyOnHugePages(t.shape, dtype);
        converted.copy_(t);
        return converted;
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(IntPtr address, nuint length, int advice);
}
