using System.Diagnostics;
using System.Text.RegularExpressions;
using Copal.Cluster;
using Copal.Observability;
using Xunit;
using Xunit.Abstractions;
using YamlDotNet.RepresentationModel;

namespace Copal.Tests;

/// <summary>
/// The manifests under k8s/ agree with the code: ports, COPAL_* variable names, roles, Service
/// names and seed addresses, GPU resources, and probes on paths the processes serve.
/// </summary>
public partial class KubernetesManifestTests(ITestOutputHelper output)
{
    private static readonly string K8s = Path.Combine(RepoPaths.Root, "k8s");

    /// <summary>The label a pod needs to reach the metrics and status port (Prometheus, `copal status --url`).</summary>
    private const string MonitoringLabel = "copal.io/monitoring";

    /// <summary>Every document of every base manifest.</summary>
    private static List<YamlMappingNode> BaseDocuments() => Documents(Directory.GetFiles(Path.Combine(K8s, "base"), "*.yaml"));

    private static List<YamlMappingNode> Documents(IEnumerable<string> files)
    {
        var docs = new List<YamlMappingNode>();
        foreach (var file in files)
        {
            var stream = new YamlStream();
            using var reader = new StringReader(File.ReadAllText(file));
            stream.Load(reader);
            docs.AddRange(stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>());
        }

        return docs;
    }

    [Fact]
    public void EveryManifestParses()
    {
        var files = Directory.GetFiles(K8s, "*.yaml", SearchOption.AllDirectories);
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var stream = new YamlStream();
            using var reader = new StringReader(File.ReadAllText(file));
            stream.Load(reader);
            Assert.True(stream.Documents.Count > 0, file);
        }

        foreach (var overlay in new[] { "gpu", "cpu-dev" })
        {
            Assert.True(File.Exists(Path.Combine(K8s, "overlays", overlay, "kustomization.yaml")), overlay);
        }
    }

    [Fact]
    public void EveryVariableInTheManifestsIsOneTheCodeNames()
    {
        var names = new HashSet<string>();
        foreach (var file in Directory.GetFiles(K8s, "*.yaml", SearchOption.AllDirectories))
        {
            foreach (Match m in CopalVariable().Matches(File.ReadAllText(file)))
            {
                names.Add(m.Value);
            }
        }

        Assert.Contains(EnvironmentVariables.Seeds, names);
        Assert.All(names, n => Assert.True(EnvironmentVariables.All.Contains(n), $"{n} is used in k8s/ but is not a constant in EnvironmentVariables"));

        // The node's options name the same variables.
        Assert.Equal(EnvironmentVariables.Seeds, GpuNode.NodeOptions.SeedsVariable);
        Assert.Equal(EnvironmentVariables.MetricsPort, GpuNode.NodeOptions.MetricsPortVariable);
        Assert.Equal(EnvironmentVariables.PublicHostname, GpuNode.NodeOptions.PublicHostVariable);
        Assert.Equal(EnvironmentVariables.TlsCert, GpuNode.NodeOptions.TlsCertVariable);
    }

    [Fact]
    public void PortsAgreeBetweenSettingsContainersAndServices()
    {
        var docs = BaseDocuments();
        var settings = ConfigMap(docs);
        var ports = new Dictionary<string, int>
        {
            ["remoting"] = int.Parse(settings[EnvironmentVariables.Port]),
            ["data"] = int.Parse(settings[EnvironmentVariables.DataPort]),
            ["metrics"] = int.Parse(settings[EnvironmentVariables.MetricsPort]),
        };
        foreach (var set in OfKind(docs, "StatefulSet"))
        {
            var container = Container(set);
            foreach (var port in Seq(container, "ports").Cast<YamlMappingNode>())
            {
                Assert.Equal(ports[Str(port, "name")], int.Parse(Str(port, "containerPort")));
            }

            var service = OfKind(docs, "Service").Single(s => Name(s) == Str(Map(set, "spec"), "serviceName"));
            foreach (var port in Seq(Map(service, "spec"), "ports").Cast<YamlMappingNode>())
            {
                Assert.Equal(ports[Str(port, "name")], int.Parse(Str(port, "port")));
                Assert.Contains(Seq(container, "ports").Cast<YamlMappingNode>(), p => Str(p, "name") == Str(port, "targetPort"));
            }
        }
    }

    [Fact]
    public void SeedsAreStatefulSetPodsBehindHeadlessServices()
    {
        var docs = BaseDocuments();
        var settings = ConfigMap(docs);
        var seeds = settings[EnvironmentVariables.Seeds].Split(',');
        Assert.True(seeds.Length >= 3, "several seeds, not pod-0 alone");
        var port = settings[EnvironmentVariables.Port];
        var sets = OfKind(docs, "StatefulSet").ToDictionary(Name);
        var seen = new HashSet<string>();
        foreach (var seed in seeds)
        {
            var m = SeedAddress().Match(seed);
            Assert.True(m.Success, seed);
            Assert.Equal(Roles.SystemName, m.Groups["system"].Value);
            Assert.Equal(port, m.Groups["port"].Value);
            var set = sets[m.Groups["set"].Value];
            var spec = Map(set, "spec");
            Assert.Equal(Str(spec, "serviceName"), m.Groups["service"].Value);
            Assert.True(int.Parse(m.Groups["ordinal"].Value) < int.Parse(Str(spec, "replicas")), seed);
            var service = OfKind(docs, "Service").Single(s => Name(s) == m.Groups["service"].Value);
            Assert.Equal("None", Str(Map(service, "spec"), "clusterIP"));
            Assert.Equal("true", Str(Map(service, "spec"), "publishNotReadyAddresses"));
            seen.Add(m.Groups["set"].Value);
        }

        Assert.Equal(sets.Keys.Order(), seen.Order());
        foreach (var (name, set) in sets)
        {
            // Each pod announces exactly the name its seed address uses.
            Assert.Equal($"$(POD_NAME).{Str(Map(set, "spec"), "serviceName")}", Env(set)[EnvironmentVariables.PublicHostname]);
        }
    }

    [Fact]
    public void RolesImagesAndTheCoordinatorRun()
    {
        var docs = BaseDocuments();
        var sets = OfKind(docs, "StatefulSet").ToList();
        var coordinator = sets.Single(s => Component(s) == Roles.Coordinator);
        var nodes = sets.Single(s => Component(s) == Roles.GpuNode);
        Assert.Equal("1", Str(Map(coordinator, "spec"), "replicas"));
        Assert.StartsWith("copal:", Str(Container(coordinator), "image"));
        Assert.StartsWith("copal-node:", Str(Container(nodes), "image"));

        var args = Seq(Container(coordinator), "args").Select(a => ((YamlScalarNode)a).Value!).ToList();
        Assert.Equal("prune", args[0]);
        Assert.Equal($"$({EnvironmentVariables.Seeds})", args[args.IndexOf("--seeds") + 1]);
        Assert.Equal($"$({EnvironmentVariables.MinNodes})", args[args.IndexOf("--min-nodes") + 1]);
        Assert.Equal($"$({EnvironmentVariables.RunDir})", args[args.IndexOf("--out") + 1]);

        // The options these arguments name exist.
        var prune = Coordinator.Cli.Jobs.PruneCommand.Create();
        foreach (var option in args.Where(a => a.StartsWith("--", StringComparison.Ordinal)))
        {
            Assert.Contains(prune.Options, o => o.Name == option);
        }

        var settings = ConfigMap(docs);

        // A restarted coordinator pod continues its run; a finished one stays up instead of crash-looping.
        Assert.Equal("true", settings[EnvironmentVariables.Resume]);
        Assert.Equal("true", settings[EnvironmentVariables.Linger]);
        Assert.StartsWith("/data/", settings[EnvironmentVariables.Model]);
        Assert.StartsWith("/data/", settings[EnvironmentVariables.RunDir]);
        var pvc = OfKind(docs, "PersistentVolumeClaim").Single();
        Assert.Equal("ReadWriteMany", ((YamlScalarNode)Seq(Map(pvc, "spec"), "accessModes")[0]).Value);
        foreach (var set in sets)
        {
            Assert.Contains(Seq(Container(set), "volumeMounts").Cast<YamlMappingNode>(), v => Str(v, "mountPath") == "/data");
            var podSpec = Map(Map(Map(set, "spec"), "template"), "spec");
            Assert.Equal("true", Str(Map(podSpec, "securityContext"), "runAsNonRoot"));
            Assert.Contains(OfKind(docs, "PodDisruptionBudget"), p => Name(p) == Name(set));
        }
    }

    [Fact]
    public void GpuNodesAskForOneGpuOnTheGpuPool()
    {
        var nodes = OfKind(BaseDocuments(), "StatefulSet").Single(s => Component(s) == Roles.GpuNode);
        var resources = Map(Container(nodes), "resources");
        Assert.Equal("1", Str(Map(resources, "limits"), "nvidia.com/gpu"));
        Assert.Equal("1", Str(Map(resources, "requests"), "nvidia.com/gpu"));
        Assert.Equal("cuda:0", Env(nodes)[EnvironmentVariables.Device]);
        var podSpec = Map(Map(Map(nodes, "spec"), "template"), "spec");
        Assert.NotEmpty(Map(podSpec, "nodeSelector").Children);
        Assert.Contains(Seq(podSpec, "tolerations").Cast<YamlMappingNode>(), t => Str(t, "key") == "nvidia.com/gpu");
        Assert.Equal("Parallel", Str(Map(nodes, "spec"), "podManagementPolicy"));
        foreach (var set in OfKind(BaseDocuments(), "StatefulSet"))
        {
            var r = Map(Container(set), "resources");
            Assert.NotNull(Str(Map(r, "requests"), "memory"));
            Assert.NotNull(Str(Map(r, "limits"), "memory"));
        }
    }

    [Fact]
    public void ProbesAskForPathsTheProcessesServe()
    {
        foreach (var set in OfKind(BaseDocuments(), "StatefulSet"))
        {
            var container = Container(set);
            var liveness = Map(Map(container, "livenessProbe"), "httpGet");
            var readiness = Map(Map(container, "readinessProbe"), "httpGet");
            Assert.Equal(HealthServer.HealthPath, Str(liveness, "path"));
            Assert.Equal(HealthServer.ReadyPath, Str(readiness, "path"));
            Assert.Equal("metrics", Str(liveness, "port"));
            Assert.Equal("metrics", Str(readiness, "port"));
        }
    }

    [Fact]
    public void NetworkPoliciesAdmitCopalPodsToTheClusterPortsAndMonitoringToMetricsOnly() =>
        AssertIngressIsLimited(BaseDocuments(), "base");

    [SkippableFact]
    public void OverlaysRenderWithKubectlKustomize()
    {
        var kubectl = Environment.GetEnvironmentVariable("PATH")?.Split(':').Select(d => Path.Combine(d, "kubectl")).FirstOrDefault(File.Exists);
        if (kubectl is null)
        {
            output.WriteLine("kubectl not on PATH: kustomize rendering not checked");
        }

        Skip.If(kubectl is null, "kubectl is not installed; `kubectl kustomize k8s/overlays/...` not checked");
        foreach (var overlay in new[] { "gpu", "cpu-dev" })
        {
            var start = new ProcessStartInfo(kubectl!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.ArgumentList.Add("kustomize");
            start.ArgumentList.Add(Path.Combine(K8s, "overlays", overlay));
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            Assert.True(process.WaitForExit(TimeSpan.FromMinutes(1)), "kubectl kustomize hung");
            Assert.True(process.ExitCode == 0, $"{overlay}: {stderr.Result}");

            var stream = new YamlStream();
            stream.Load(new StringReader(stdout.Result));
            var docs = stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>().ToList();
            var nodes = OfKind(docs, "StatefulSet").Single(s => Component(s) == Roles.GpuNode);
            var limits = Map(Map(Container(nodes), "resources"), "limits");
            var settings = ConfigMap(docs);
            Assert.True(int.Parse(settings[EnvironmentVariables.MinNodes]) <= int.Parse(Str(Map(nodes, "spec"), "replicas")), overlay);
            AssertIngressIsLimited(docs, overlay);
            if (overlay == "gpu")
            {
                Assert.Equal("1", Str(limits, "nvidia.com/gpu"));
                Assert.EndsWith(":cuda", Str(Container(nodes), "image"));

                // TLS: every member reads its certificate from the mounted Secret.
                foreach (var set in OfKind(docs, "StatefulSet"))
                {
                    var certificate = Env(set)[EnvironmentVariables.TlsCert];
                    var podSpec = Map(Map(Map(set, "spec"), "template"), "spec");
                    var secretVolumes = Seq(podSpec, "volumes").Cast<YamlMappingNode>().Where(v => v.Children.ContainsKey("secret")).Select(v => Str(v, "name")).ToHashSet();
                    Assert.Contains(Seq(Container(set), "volumeMounts").Cast<YamlMappingNode>(), m => secretVolumes.Contains(Str(m, "name")) && certificate.StartsWith(Str(m, "mountPath") + "/", StringComparison.Ordinal));
                    Assert.Contains(Seq(Container(set), "env").Cast<YamlMappingNode>(), e => Str(e, "name") == EnvironmentVariables.TlsPassword && e.Children.ContainsKey("valueFrom"));
                }
            }
            else
            {
                Assert.False(limits.Children.ContainsKey("nvidia.com/gpu"));
                Assert.Equal("cpu", Env(nodes)[EnvironmentVariables.Device]);
                Assert.EndsWith(":cpu", Str(Container(nodes), "image"));
                Assert.False(Env(nodes).ContainsKey(EnvironmentVariables.TlsCert));
            }
        }
    }

    /// <summary>
    /// Every port of every copal pod: remoting and data open to copal pods of the namespace only,
    /// metrics to pods labelled <see cref="MonitoringLabel"/> only (any namespace), all else closed.
    /// </summary>
    private static void AssertIngressIsLimited(List<YamlMappingNode> docs, string manifests)
    {
        var policies = new IngressPolicies(docs);
        Assert.True(policies.Count > 0, $"{manifests}: no NetworkPolicy");
        var sets = OfKind(docs, "StatefulSet").ToList();
        var copal = sets.Select(PodLabels).ToList();
        var monitoring = new Dictionary<string, string> { [MonitoringLabel] = "true" };
        var stranger = new IngressPolicies.Peer(new Dictionary<string, string> { ["app"] = "anything-else" }, SameNamespace: true);
        foreach (var set in sets)
        {
            var pod = PodLabels(set);
            void Expect(bool admitted, IngressPolicies.Peer from, string port, int number) =>
                Assert.True(policies.Admits(pod, from, port, number) == admitted, $"{manifests}: {Name(set)} port {port} {(admitted ? "refuses" : "admits")} {string.Join(",", from.Labels)} (same namespace: {from.SameNamespace})");

            foreach (var port in Seq(Container(set), "ports").Cast<YamlMappingNode>())
            {
                var (name, number) = (Str(port, "name"), int.Parse(Str(port, "containerPort")));
                var cluster = name is "remoting" or "data";
                foreach (var member in copal)
                {
                    Expect(cluster, new IngressPolicies.Peer(member, SameNamespace: true), name, number);
                    Expect(false, new IngressPolicies.Peer(member, SameNamespace: false), name, number);
                }

                Expect(name == "metrics", new IngressPolicies.Peer(monitoring, SameNamespace: false), name, number);
                Expect(false, stranger, name, number);
            }

            Expect(false, new IngressPolicies.Peer(pod, SameNamespace: true), "other", 8080);
        }
    }

    private static Dictionary<string, string> PodLabels(YamlMappingNode set) =>
        Map(Map(Map(Map(set, "spec"), "template"), "metadata"), "labels").Children.ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value!);

    private static IEnumerable<YamlMappingNode> OfKind(IEnumerable<YamlMappingNode> docs, string kind) => docs.Where(d => Str(d, "kind") == kind);

    private static Dictionary<string, string> ConfigMap(IEnumerable<YamlMappingNode> docs) =>
        Map(OfKind(docs, "ConfigMap").Single(c => Name(c) == "copal-settings"), "data").Children.ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value!);

    private static string Name(YamlMappingNode doc) => Str(Map(doc, "metadata"), "name");

    private static string Component(YamlMappingNode set) => Str(Map(Map(Map(Map(set, "spec"), "template"), "metadata"), "labels"), "app.kubernetes.io/component");

    private static YamlMappingNode Container(YamlMappingNode set) => (YamlMappingNode)Seq(Map(Map(Map(set, "spec"), "template"), "spec"), "containers")[0];

    private static Dictionary<string, string> Env(YamlMappingNode set) =>
        Seq(Container(set), "env").Cast<YamlMappingNode>().Where(e => e.Children.ContainsKey("value")).ToDictionary(e => Str(e, "name"), e => Str(e, "value"));

    private static YamlMappingNode Map(YamlMappingNode node, string key) => (YamlMappingNode)node[key];

    private static YamlSequenceNode Seq(YamlMappingNode node, string key) => (YamlSequenceNode)node[key];

    private static string Str(YamlMappingNode node, string key) => ((YamlScalarNode)node[key]).Value!;

    [GeneratedRegex(@"\bCOPAL_[A-Z0-9_]+\b")]
    private static partial Regex CopalVariable();

    [GeneratedRegex(@"^akka\.tcp://(?<system>[a-z-]+)@(?<set>[a-z0-9-]+)-(?<ordinal>\d+)\.(?<service>[a-z0-9-]+):(?<port>\d+)$")]
    private static partial Regex SeedAddress();
}
