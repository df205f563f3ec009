using static TorchSharp.torch;

namespace Copal.Data;

/// <summary>Chooses n windows of L tokens from a calibration token stream.</summary>
public static class CalibrationSampler
{
    /// <summary>Start offsets: even (protocol default) or seeded uniform random.</summary>
    public static long[] Starts(long tokens, int samples, int seqLen, SamplingMode mode, long seed)
    {
        if (samples < 1)
        {
            throw new CopalInputException($"--samples must be at least 1, got {samples}");
        }

        if (tokens < seqLen)
        {
            throw new CopalInputException($"the calibration split has {tokens} tokens, fewer than one sample of {seqLen}");
        }

        var span = tokens - seqLen;
        if (mode == SamplingMode.Random)
        {
            var random = new Random((int)(seed & 0x7fffffff));
            return Enumerable.Range(0, samples).Select(_ => random.NextInt64(span + 1)).ToArray();
        }

        return Enumerable.Range(0, samples).Select(j => samples == 1 ? 0 : j * span / (samples - 1)).ToArray();
    }

    /// <summary>[n, L] int64 token windows.</summary>
    public static Tensor Sample(int[] tokens, int samples, int seqLen, SamplingMode mode, long seed)
    {
        var starts = Starts(tokens.Length, samples, seqLen, mode, seed);
        var ids = new long[samples * (long)seqLen];
        for (var j = 0; j < samples; j++)
        {
            for (var t = 0; t < seqLen; t++)
            {
                ids[(j * seqLen) + t] = tokens[starts[j] + t];
            }
        }

        return tensor(ids, [samples, seqLen]);
    }
}
