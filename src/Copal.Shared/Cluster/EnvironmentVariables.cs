namespace Copal.Cluster;

/// <summary>
/// Every environment variable a Copal process reads (or a Kubernetes manifest passes to one).
/// Command-line options fall back to these, so a container is configured through its environment
/// alone; the manifests under k8s/ are tested against this list.
/// </summary>
public static class EnvironmentVariables
{
    /// <summary>Comma-separated seed addresses (akka.tcp://copal@host:port,...).</summary>
    public const string Seeds = "COPAL_SEEDS";

    /// <summary>Address to bind (0.0.0.0 in a container).</summary>
    public const string Host = "COPAL_HOST";

    /// <summary>Address other members use to reach this process (the pod's DNS name).</summary>
    public const string PublicHostname = "COPAL_PUBLIC_HOSTNAME";

    /// <summary>Akka remoting port.</summary>
    public const string Port = "COPAL_PORT";

    /// <summary>A node's activation data port.</summary>
    public const string DataPort = "COPAL_DATA_PORT";

    /// <summary>HTTP port serving /metrics, /healthz and /readyz (0: off).</summary>
    public const string MetricsPort = "COPAL_METRICS_PORT";

    /// <summary>Memory a node announces, e.g. 80GiB.</summary>
    public const string Memory = "COPAL_MEMORY";

    /// <summary>A node's torch device: cpu or cuda:N.</summary>
    public const string Device = "COPAL_DEVICE";

    /// <summary>Torch intra-op threads.</summary>
    public const string Threads = "COPAL_THREADS";

    /// <summary>A node's torch threads while it is alone in its pipeline with work (nodes sharing a machine's cores).</summary>
    public const string AloneThreads = "COPAL_ALONE_THREADS";

    /// <summary>A node's stable name.</summary>
    public const string NodeId = "COPAL_NODE_ID";

    /// <summary>Verbose, Debug, Information, Warning, Error.</summary>
    public const string LogLevel = "COPAL_LOG_LEVEL";

    /// <summary>json (JSON lines) or text; default: json unless stdout/stderr is a terminal.</summary>
    public const string LogFormat = "COPAL_LOG_FORMAT";

    /// <summary>Cluster nodes the coordinator waits for (copal prune --min-nodes).</summary>
    public const string MinNodes = "COPAL_MIN_NODES";

    /// <summary>Model directory of a run (copal prune --model; in k8s expanded into the coordinator's arguments).</summary>
    public const string Model = "COPAL_MODEL";

    /// <summary>Output directory of a run (copal prune --out).</summary>
    public const string RunDir = "COPAL_RUN_DIR";

    /// <summary>PKCS#12 (PFX) certificate for TLS on Akka remoting; unset: plain TCP.</summary>
    public const string TlsCert = "COPAL_TLS_CERT";

    /// <summary>Password of <see cref="TlsCert"/>.</summary>
    public const string TlsPassword = "COPAL_TLS_PASSWORD";

    /// <summary>Split-brain resolver stable-after, in seconds (default 20).</summary>
    public const string DownAfter = "COPAL_DOWN_AFTER";

    /// <summary>Seconds after which a process that could not join any seed shuts down (default 60; "off" never).</summary>
    public const string JoinTimeout = "COPAL_JOIN_TIMEOUT";

    /// <summary>true: copal prune continues the run already in its --out directory (same settings) instead of refusing it.</summary>
    public const string Resume = "COPAL_RESUME";

    /// <summary>true: the coordinator stays up after its run (status, metrics) until it is stopped.</summary>
    public const string Linger = "COPAL_LINGER";

    /// <summary>What copal prune stores of each stage: full (default) or masks.</summary>
    public const string Store = "COPAL_STORE";

    /// <summary>A running coordinator's metrics address (http://host:port) for copal status.</summary>
    public const string CoordinatorUrl = "COPAL_COORDINATOR_URL";

    /// <summary>Set by a coordinator on the node processes it starts: they exit when it is gone.</summary>
    public const string ParentPid = "COPAL_PARENT_PID";

    /// <summary>
    /// Fault injection for tests, never for production: N flips one bit of the N-th frame with
    /// tensor bytes this process sends on the data path, after its checksum was computed.
    /// </summary>
    public const string FaultFlipBit = "COPAL_FAULT_FLIP_BIT";

    /// <summary>
    /// Fault injection for tests, never for production: NODE:PHASE:N[,...] makes node NODE kill
    /// itself (SIGKILL) the N-th time it enters PHASE (calibration, pruning, writing, evaluation).
    /// </summary>
    public const string FaultKill = "COPAL_FAULT_KILL";

    /// <summary>All of the above.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        Seeds, Host, PublicHostname, Port, DataPort, MetricsPort, Memory, Device, Threads, AloneThreads, NodeId, LogLevel, LogFormat,
        MinNodes, Model, RunDir, TlsCert, TlsPassword, DownAfter, JoinTimeout, Resume, Linger, Store, CoordinatorUrl, ParentPid,
        FaultFlipBit, FaultKill,
    ];

    /// <summary>A boolean variable: true/1/yes or false/0/no; <paramref name="fallback"/> when unset.</summary>
    public static bool Flag(string name, bool fallback = false) => Get(name)?.ToLowerInvariant() switch
    {
        null => fallback,
        "true" or "1" or "yes" => true,
        "false" or "0" or "no" => false,
        var other => throw new CopalInputException($"{name}={other}: expected true or false"),
    };

    /// <summary>The variable's value, or null when it is unset or empty.</summary>
    public static string? Get(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
}
