using Copal.GpuNode;
using Copal.Pipeline;
using Copal.Stages;
using Xunit;
using static TorchSharp.torch;

namespace Copal.Tests;

/// <summary>When a node of a pipeline is alone with work, and the threads it takes then.</summary>
[Collection(NotInParallel.Name)]
public sealed class PipelineOccupancyTests
{
    [Fact]
    public void A_shard_is_alone_as_the_pipeline_fills_and_drains_and_nowhere_between()
    {
        var first = PipelineOccupancy.Of(firstLayer: 0, feedsAnother: true, samples: 128, batchSize: 8);
        var middle = PipelineOccupancy.Of(firstLayer: 2, feedsAnother: true, samples: 128, batchSize: 8);
        var last = PipelineOccupancy.Of(firstLayer: 4, feedsAnother: false, samples: 128, batchSize: 8);
        Assert.Equal(16, last.MicroBatches);

        long[] sequences = [.. Enumerable.Range(0, 16).Select(s => (long)s)];
        Assert.Equal([0L], sequences.Where(s => first.AloneOn(StageSchedule.Pipeline, s)));
        Assert.DoesNotContain(sequences, s => middle.AloneOn(StageSchedule.Pipeline, s));
        Assert.Equal([15L], sequences.Where(s => last.AloneOn(StageSchedule.Pipeline, s)));
        Assert.Equal((false, false, true), (first.AloneFinishing, middle.AloneFinishing, last.AloneFinishing));
    }

    [Fact]
    public void A_partial_last_micro_batch_and_a_single_shard_count()
    {
        // 6 samples in micro-batches of 4: sequences 0 and 1; one shard is first and last.
        var only = PipelineOccupancy.Of(firstLayer: 0, feedsAnother: false, samples: 6, batchSize: 4);
        Assert.Equal(2, only.MicroBatches);
        Assert.True(only.AloneOn(StageSchedule.Pipeline, 0));
        Assert.True(only.AloneOn(StageSchedule.Pipeline, 1));
        Assert.True(only.AloneFinishing);
    }

    [Fact]
    public void A_wave_pass_is_alone_and_its_gathering_and_a_pipeline_end_are_not()
    {
        var first = PipelineOccupancy.Of(firstLayer: 0, feedsAnother: true, samples: 16, batchSize: 8);
        Assert.True(first.AloneEnding(StageSchedule.Wave));
        Assert.False(first.AloneEnding(StageSchedule.Pipeline));
        Assert.False(first.AloneOn(StageSchedule.Wave, 0));
    }

    [Fact]
    public void Alone_a_node_takes_its_alone_threads_and_gives_them_back()
    {
        var before = get_num_threads();
        var share = new ThreadShare(before, before + 1);
        Assert.Equal(before, share.Run(alone: false, get_num_threads));
        Assert.Equal(before + 1, share.Run(alone: true, get_num_threads));
        Assert.Equal(before, get_num_threads());
        Assert.Equal(before, new ThreadShare(before, before).Run(alone: true, get_num_threads));

        // Given back when the work throws, too.
        Assert.Throws<InvalidOperationException>(() => share.Run<int>(alone: true, () => throw new InvalidOperationException()));
        Assert.Equal(before, get_num_threads());
    }
}
