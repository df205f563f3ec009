using System.Runtime.InteropServices;
using Copal.Model;
using Xunit;

namespace Copal.Tests;

public class KeepMaskTests
{
    [Fact]
    public void BitsArePackedLeastSignificantFirstInRowMajorOrder()
    {
        float[] dense = [1, -2, 3, -4, 5, -6, 7, -8, 9, -10];
        float[] stage = [1, 0, 3, 0, 0, -6, 7, -8, 0, -10];
        var packed = KeepMask.Pack(Bytes(stage), Bytes(dense), sizeof(float), "w");
        Assert.Equal([0b1110_0101, 0b0000_0010], packed);

        var restored = Bytes(dense);
        KeepMask.Apply(restored, packed, sizeof(float), "w");
        Assert.Equal(Bytes(stage), restored);
    }

    [Fact]
    public void AChangedOrNegativeZeroWeightCannotBeMasked()
    {
        float[] dense = [1, -2, 3];
        Assert.Throws<InvalidOperationException>(() => KeepMask.Pack(Bytes([1, -2, 3.5f]), Bytes(dense), sizeof(float), "w"));
        Assert.Throws<InvalidOperationException>(() => KeepMask.Pack(Bytes([1, -0f, 3]), Bytes(dense), sizeof(float), "w"));
    }

    private static byte[] Bytes(float[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
}
