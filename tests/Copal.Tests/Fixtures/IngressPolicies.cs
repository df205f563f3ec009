using YamlDotNet.RepresentationModel;

namespace Copal.Tests;

/// <summary>
/// What the NetworkPolicies among some manifests admit, evaluated as Kubernetes does for ingress:
/// a pod that no Ingress policy selects admits everything; a selected one admits what a rule of
/// one of its policies admits. Only as much of the API as Copal's policies use: label selectors
/// (matchLabels, In), pod and namespace peers, named or numbered ports; anything else throws.
/// </summary>
public sealed class IngressPolicies(IEnumerable<YamlMappingNode> documents)
{
    private readonly List<YamlMappingNode> policies = documents.Where(d => Text(d, "kind") == "NetworkPolicy").ToList();

    public int Count => policies.Count;

    /// <summary>Whether <paramref name="from"/> may open a connection to port <paramref name="portName"/> (<paramref name="port"/>) of a pod labelled <paramref name="pod"/>.</summary>
    public bool Admits(IReadOnlyDictionary<string, string> pod, Peer from, string portName, int port)
    {
        var selecting = policies.Select(p => (YamlMappingNode)p["spec"]).Where(s => Selects((YamlMappingNode)s["podSelector"], pod) && IsIngress(s)).ToList();
        return selecting.Count == 0 || selecting.SelectMany(Rules).Any(rule => OpensPort(rule, portName, port) && Lets(rule, from));
    }

    private static bool IsIngress(YamlMappingNode spec) =>
        !spec.Children.ContainsKey("policyTypes") || ((YamlSequenceNode)spec["policyTypes"]).Any(t => ((YamlScalarNode)t).Value == "Ingress");

    private static IEnumerable<YamlMappingNode> Rules(YamlMappingNode spec) =>
        spec.Children.TryGetValue("ingress", out var rules) ? ((YamlSequenceNode)rules).Cast<YamlMappingNode>() : [];

    private static bool OpensPort(YamlMappingNode rule, string name, int number) =>
        !rule.Children.TryGetValue("ports", out var ports)
        || ((YamlSequenceNode)ports).Cast<YamlMappingNode>().Any(p => Text(p, "port") == name || Text(p, "port") == number.ToString());

    private static bool Lets(YamlMappingNode rule, Peer from) =>
        !rule.Children.TryGetValue("from", out var peers) || ((YamlSequenceNode)peers).Cast<YamlMappingNode>().Any(peer => Matches(peer, from));

    private static bool Matches(YamlMappingNode peer, Peer from)
    {
        if (peer.Children.ContainsKey("ipBlock"))
        {
            throw new NotSupportedException("ipBlock peers are not evaluated");
        }

        // Without a namespaceSelector a peer is of the policy's own namespace; an empty one is any namespace.
        var namespaces = peer.Children.TryGetValue("namespaceSelector", out var selector)
            ? ((YamlMappingNode)selector).Children.Count == 0 ? true : throw new NotSupportedException("namespaceSelector with labels is not evaluated")
            : from.SameNamespace;
        return namespaces && (!peer.Children.TryGetValue("podSelector", out var pods) || Selects((YamlMappingNode)pods, from.Labels));
    }

    private static bool Selects(YamlMappingNode selector, IReadOnlyDictionary<string, string> labels)
    {
        var byLabel = !selector.Children.TryGetValue("matchLabels", out var match)
            || ((YamlMappingNode)match).Children.All(e => labels.TryGetValue(((YamlScalarNode)e.Key).Value!, out var v) && v == ((YamlScalarNode)e.Value).Value);
        var byExpression = !selector.Children.TryGetValue("matchExpressions", out var expressions)
            || ((YamlSequenceNode)expressions).Cast<YamlMappingNode>().All(e => Text(e, "operator") == "In"
                ? labels.TryGetValue(Text(e, "key"), out var v) && ((YamlSequenceNode)e["values"]).Any(x => ((YamlScalarNode)x).Value == v)
                : throw new NotSupportedException($"selector operator {Text(e, "operator")} is not evaluated"));
        return byLabel && byExpression;
    }

    private static string Text(YamlMappingNode node, string key) => ((YamlScalarNode)node[key]).Value!;

    /// <summary>A pod that opens a connection: its labels, and whether it runs in the policies' namespace.</summary>
    public sealed record Peer(IReadOnlyDictionary<string, string> Labels, bool SameNamespace);
}
