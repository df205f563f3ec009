namespace Copal.Coordinator.Monitoring;

/// <summary>A node of the live pipeline and the layers it holds.</summary>
public sealed record NodeStatus(string NodeId, string DataEndpoint, int FirstLayer, int LastLayer, long MemoryBytes, string Device);
