using Copal.Model;
using Copal.Nn;
using static TorchSharp.torch;

namespace Copal.Pipeline;

/// <summary>Feeds a stage's calibration samples to a pipeline, embedding them micro-batch by micro-batch (reading only their embedding rows).</summary>
public static class CalibrationFeed
{
    /// <param name="samples">[n, L] token ids.</param>
    public static void Run(IPruningPipeline pipeline, LlamaModel model, Tensor samples, ComputeOptions compute, string task, IProgress<WorkProgress>? progress)
    {
        var total = samples.shape[0];
        foreach (var (start, count) in LayerwiseRunner.Batches(total, compute.BatchSize))
        {
            using var batch = samples.narrow(0, start, count);
            pipeline.Calibrate(start, model.Embed(batch, compute.DType));
            progress?.Report(new WorkProgress(task, start + count, total));
        }
    }
}
