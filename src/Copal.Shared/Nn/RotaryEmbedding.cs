using Copal.Model;
using static TorchSharp.torch;

namespace Copal.Nn;

/// <summary>Rotary position embedding tables (rotate-half convention, as HF LLaMA), with the config's rope_scaling.</summary>
public sealed class RotaryEmbedding : IDisposable
{
    public RotaryEmbedding(LlamaConfig config, int length, ScalarType dtype)
        : this(InverseFrequencies(config.HeadDim, config.RopeTheta, config.RopeScaling), length, dtype)
    {
    }

    private RotaryEmbedding(float[] invFreqs, int length, ScalarType dtype)
    {
        // HF computes the tables in float32, then casts to the activations' dtype.
        var half = invFreqs.Length;
        var headDim = 2 * half;
        var angles = new float[length * headDim];
        for (var i = 0; i < half; i++)
        {
            var invFreq = invFreqs[i];
            for (var p = 0; p < length; p++)
            {
                var a = p * invFreq;
                angles[(p * headDim) + i] = a;
                angles[(p * headDim) + i + half] = a;
            }
        }

        using var table = tensor(angles, [length, headDim]);
        using var cos32 = table.cos();
        using var sin32 = table.sin();
        Cos = cos32.to_type(dtype);
        Sin = sin32.to_type(dtype);
        Length = length;
    }

    /// <summary>inv_freq[i] = 1 / theta^(2i / head_dim) for i below head_dim / 2, then scaled; float32.</summary>
    public static float[] InverseFrequencies(int headDim, double theta, RopeScaling? scaling)
    {
        var invFreqs = new float[headDim / 2];
        for (var i = 0; i < invFreqs.Length; i++)
        {
            var invFreq = (float)(1.0 / Math.Pow(theta, 2.0 * i / headDim));
            invFreqs[i] = scaling?.Scale(invFreq) ?? invFreq;
        }

        return invFreqs;
    }

    public int Length { get; }

    /// <summary>[T, head_dim].</summary>
    public Tensor Cos { get; }

    /// <summary>[T, head_dim].</summary>
    public Tensor Sin { get; }

    /// <summary>x: [B, heads, T, head_dim].</summary>
    public Tensor Apply(Tensor x)
    {
        var t = x.shape[2];
        var cos = Cos.narrow(0, 0, t);
        var sin = Sin.narrow(0, 0, t);
        var half = x.shape[3] / 2;
        var rotated = cat([x.narrow(3, half, half).neg(), x.narrow(3, 0, half)], 3);
        return (x * cos) + (rotated * sin);
    }

    public void Dispose()
    {
        Cos.Dispose();
        Sin.Dispose();
    }
}
