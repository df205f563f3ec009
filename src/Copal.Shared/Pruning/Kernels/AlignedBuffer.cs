using System.Runtime.InteropServices;

namespace Copal.Pruning.Kernels;

/// <summary>A native, 64-byte aligned float buffer that grows as needed and lives as long as its thread.</summary>
internal sealed unsafe class AlignedBuffer
{
    private float* data;
    private long capacity;

    ~AlignedBuffer() => NativeMemory.AlignedFree(data);

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
