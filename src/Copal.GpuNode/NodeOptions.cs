using System.CommandLine;
using Copal.Cluster;

namespace Copal.GpuNode;

/// <summary>
/// The node's command-line options. Each falls back to an environment variable (COPAL_*), so
/// a container can be configured entirely through its environment.
/// </summary>
public static class NodeOptions
{
    public const string SeedsVariable = EnvironmentVariables.Seeds;
    public const string HostVariable = EnvironmentVariables.Host;
    public const string PublicHostVariable = EnvironmentVariables.PublicHostname;
    public const string PortVariable = EnvironmentVariables.Port;
    public const string DataPortVariable = EnvironmentVariables.DataPort;
    public const string MetricsPortVariable = EnvironmentVariables.MetricsPort;
    public const string MemoryVariable = EnvironmentVariables.Memory;
    public const string DeviceVariable = EnvironmentVariables.Device;
    public const string ThreadsVariable = EnvironmentVariables.Threads;
    public const string AloneThreadsVariable = EnvironmentVariables.AloneThreads;
    public const string NodeIdVariable = EnvironmentVariables.NodeId;
    public const string LogLevelVariable = EnvironmentVariables.LogLevel;
    public const string TlsCertVariable = EnvironmentVariables.TlsCert;
    public const string TlsPasswordVariable = EnvironmentVariables.TlsPassword;

    public static Option<string> Seeds { get; } = Env(new Option<string>("--seeds") { Description = "comma-separated Akka addresses of seed nodes, e.g. akka.tcp://copal@host:4053" }, SeedsVariable, string.Empty);

    public static Option<string> Host { get; } = Env(new Option<string>("--host") { Description = "address to bind" }, HostVariable, "127.0.0.1");

    public static Option<string?> PublicHost { get; } = Env(new Option<string?>("--public-host") { Description = "address other members use to reach this node (default: --host)" }, PublicHostVariable, null);

    public static Option<int> Port { get; } = Env(new Option<int>("--port") { Description = "Akka remoting port (0: any free port)" }, PortVariable, 0);

    public static Option<int> DataPort { get; } = Env(new Option<int>("--data-port") { Description = "activation data port (0: any free port)" }, DataPortVariable, 0);

    public static Option<int> MetricsPort { get; } = Env(new Option<int>("--metrics-port") { Description = "HTTP port for /metrics, /healthz and /readyz (0: off)" }, MetricsPortVariable, 0);

    public static Option<string> Memory { get; } = Env(new Option<string>("--memory") { Description = "memory this node may use, e.g. 80GiB" }, MemoryVariable, "16GiB");

    public static Option<string> Device { get; } = Env(new Option<string>("--device") { Description = "cpu or cuda:N" }, DeviceVariable, "cpu");

    public static Option<int?> Threads { get; } = Env(new Option<int?>("--threads") { Description = "torch intra-op threads (default: all cores)" }, ThreadsVariable, null);

    public static Option<int?> AloneThreads { get; } = Env(new Option<int?>("--alone-threads") { Description = "torch threads while no other node of the pipeline has work (as it fills and drains, in a wave's pass): for nodes that share one machine's cores (default: --threads)" }, AloneThreadsVariable, null);

    public static Option<string?> NodeId { get; } = Env(new Option<string?>("--node-id") { Description = "stable name of this node (default: host:port)" }, NodeIdVariable, null);

    public static Option<string> LogLevel { get; } = Env(new Option<string>("--log-level") { Description = "Verbose, Debug, Information, Warning, Error" }, LogLevelVariable, "Information");

    public static Option<string?> TlsCert { get; } = Env(new Option<string?>("--tls-cert") { Description = "PKCS#12 (PFX) certificate: enables mutual TLS on remoting" }, TlsCertVariable, null);

    public static Option<string?> TlsPassword { get; } = Env(new Option<string?>("--tls-password") { Description = "password of --tls-cert" }, TlsPasswordVariable, null);

    public static IEnumerable<Option> All => [Seeds, Host, PublicHost, Port, DataPort, MetricsPort, Memory, Device, Threads, AloneThreads, NodeId, LogLevel, TlsCert, TlsPassword];

    private static Option<T> Env<T>(Option<T> option, string variable, T fallback)
    {
        option.DefaultValueFactory = _ => Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? Parse<T>(value, option.Name, variable) : fallback;
        option.Description += $" [env {variable}]";
        return option;
    }

    private static T Parse<T>(string value, string option, string variable)
    {
        var type = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        try
        {
            return (T)(type == typeof(string) ? value : Convert.ChangeType(value, type, System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (FormatException)
        {
            throw new CopalInputException($"{variable}={value} is not a valid value for {option}");
        }
    }
}
