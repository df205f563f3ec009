using System.Globalization;
using Copal.Model;
using Xunit;
using static TorchSharp.torch;

namespace Copal.Tests;

public sealed class TensorMemoryTests
{
    [Theory]
    [InlineData(7L)]
    [InlineData(600_000_000L)] // 2.4 GB, beyond what one span covers; never touched, so never resident
    public void The_address_is_that_of_the_first_element(long elements)
    {
        using var t = empty([elements], ScalarType.Float32);
        using var storage = t.storage<float>();
        Assert.Equal(storage.data_ptr(), TensorMemory.Address(t));
    }

    [SkippableFact]
    public void Checkpoint_tensors_are_read_into_memory_advised_for_huge_pages()
    {
        Skip.IfNot(Directory.Exists("/sys/kernel/mm/transparent_hugepage"), "this kernel has no transparent huge pages");
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var weight = randn(1024, 1024);
        TestCheckpoints.WriteFile(dir.File(CheckpointReader.SingleFile), [("w", weight)], StorageType.BF16);

        using var reader = CheckpointReader.Open(dir.Path);
        var read = reader.Read("w", ScalarType.Float32);
        var stored = reader.FileOf("w").Read("w");

        Assert.True(TestCheckpoints.Identical(read, weight.to_type(ScalarType.BFloat16).to_type(ScalarType.Float32)));
        Assert.Contains("hg", MappingFlags(Middle(read)));
        Assert.Contains("hg", MappingFlags(Middle(stored)));
    }

    // Advice covers the whole pages of a block; its first page may hold the allocator's header.
    private static IntPtr Middle(Tensor t) => TensorMemory.Address(t) + (nint)(t.numel() * t.ElementSize / 2);

    /// <summary>The VmFlags of the mapping that holds an address ("hg": advised for huge pages), from /proc/self/smaps.</summary>
    private static string[] MappingFlags(IntPtr address)
    {
        var inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var range = line.Split(' ', 2)[0].Split('-');
            if (range.Length == 2 && ulong.TryParse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var start)
                && ulong.TryParse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var end))
            {
                inside = (ulong)address >= start && (ulong)address < end;
            }
            else if (inside && line.StartsWith("VmFlags:", StringComparison.Ordinal))
            {
                return line["VmFlags:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            }
        }

        throw new InvalidOperationException($"no mapping holds {address:X}");
    }
}
