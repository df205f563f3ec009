using Prometheus;

namespace Copal.Observability;

/// <summary>
/// The Prometheus series Copal processes export on their metrics port (<c>/metrics</c>). Names
/// are constants so dashboards, alerts and tests can refer to them.
/// </summary>
public static class CopalMetrics
{
    public const string StageName = "copal_stage";
    public const string StagesCompletedName = "copal_stages_completed_total";
    public const string StageProgressName = "copal_stage_progress_ratio";
    public const string TokensPerSecondName = "copal_tokens_per_second";
    public const string TokensName = "copal_tokens_processed_total";
    public const string FramesName = "copal_frames_processed_total";
    public const string BytesStreamedName = "copal_bytes_streamed_total";
    public const string PhaseSecondsName = "copal_phase_seconds_total";
    public const string BusySecondsName = "copal_busy_seconds_total";
    public const string ProcessMemoryName = "copal_process_memory_bytes";
    public const string ClusterMembersName = "copal_cluster_members";
    public const string DataConnectionsRefusedName = "copal_data_connections_refused_total";

    /// <summary>Every series name above; each is present in a scrape from process start.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        StageName, StagesCompletedName, StageProgressName, TokensPerSecondName, TokensName, FramesName, BytesStreamedName,
        PhaseSecondsName, BusySecondsName, ProcessMemoryName, ClusterMembersName, DataConnectionsRefusedName,
    ];

    /// <summary>Index (1-based) of the stage being worked on; 0 before the first.</summary>
    public static Gauge Stage { get; } = Metrics.CreateGauge(StageName, "Index (1-based) of the continual-pruning stage in progress; 0 before the first");

    public static Counter StagesCompleted { get; } = Metrics.CreateCounter(StagesCompletedName, "Continual-pruning stages completed");

    /// <summary>Fraction of the current stage's work done, 0..1.</summary>
    public static Gauge StageProgress { get; } = Metrics.CreateGauge(StageProgressName, "Fraction of the current stage done (0..1)");

    public static Gauge TokensPerSecond { get; } = Metrics.CreateGauge(TokensPerSecondName, "Tokens per second over the last completed unit of work");

    public static Counter Tokens { get; } = Metrics.CreateCounter(TokensName, "Tokens run through this process's layers");

    /// <summary>Activation frames handled, by kind (calibration, evaluation, command, end).</summary>
    public static Counter Frames { get; } = Metrics.CreateCounter(FramesName, "Activation frames processed", "kind");

    /// <summary>Activation bytes sent on to the next node (direction=out) or received (direction=in).</summary>
    public static Counter BytesStreamed { get; } = Metrics.CreateCounter(BytesStreamedName, "Activation payload bytes streamed", "direction");

    /// <summary>Seconds spent per phase: forward, importance, mask, evaluate.</summary>
    public static Counter PhaseSeconds { get; } = Metrics.CreateCounter(PhaseSecondsName, "Seconds spent in each phase of the work", "phase");

    public static Counter BusySeconds { get; } = Metrics.CreateCounter(BusySecondsName, "Seconds this process spent computing (not waiting for frames)");

    /// <summary>Memory by kind: working_set, managed.</summary>
    public static Gauge ProcessMemory { get; } = Metrics.CreateGauge(ProcessMemoryName, "Memory of this process in bytes", "kind");

    public static Gauge ClusterMembers { get; } = Metrics.CreateGauge(ClusterMembersName, "Cluster members this process sees as Up");

    /// <summary>Data connections closed before their first frame: no cluster certificate, no link ticket, or not the upstream.</summary>
    public static Counter DataConnectionsRefused { get; } = Metrics.CreateCounter(
        DataConnectionsRefusedName, "Data connections refused before their first frame", "reason");

    /// <summary>The reasons <see cref="DataConnectionsRefused"/> counts by.</summary>
    public static IReadOnlyList<string> RefusalReasons { get; } = ["certificate", "ticket", "upstream"];

    private static int initialised;

    /// <summary>
    /// Makes every labelled series visible at zero (a scrape shows the full set from the start)
    /// and samples process memory and the phase clock before each scrape.
    /// </summary>
    public static void Initialise()
    {
        if (Interlocked.Exchange(ref initialised, 1) == 1)
        {
            return;
        }

        foreach (var phase in PhaseClock.Phases)
        {
            PhaseSeconds.WithLabels(phase);
        }

        foreach (var kind in new[] { "calibration", "evaluation", "command", "end" })
        {
            Frames.WithLabels(kind);
        }

        foreach (var reason in RefusalReasons)
        {
            DataConnectionsRefused.WithLabels(reason);
        }

        BytesStreamed.WithLabels("in");
        BytesStreamed.WithLabels("out");
        Metrics.DefaultRegistry.AddBeforeCollectCallback(Sample);
        Sample();
    }

    /// <summary>A stage begins in this process: the stage gauge, progress back to 0, and the stage on every log event.</summary>
    public static void StageBegun(int stage)
    {
        Stage.Set(stage);
        StageProgress.Set(0);
        LogFields.Stage = stage;
    }

    /// <summary>This process finished its part of a stage.</summary>
    public static void StageFinished()
    {
        StagesCompleted.Inc();
        StageProgress.Set(1);
    }

    private static void Sample()
    {
        foreach (var phase in PhaseClock.Phases)
        {
            PhaseSeconds.WithLabels(phase).IncTo(PhaseClock.Seconds(phase));
        }

        using var process = System.Diagnostics.Process.GetCurrentProcess();
        ProcessMemory.WithLabels("working_set").Set(process.WorkingSet64);
        ProcessMemory.WithLabels("managed").Set(GC.GetTotalMemory(forceFullCollection: false));
    }
}
